package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/blob/s3blob"
	"github.com/kitaru/deployments/pkg/registry"
)

// startStore runs the real gofakes3 server on loopback and returns a Store on it.
func startStore(t *testing.T, dir string) *s3blob.Store {
	t.Helper()
	srv, err := localblob.Start(dir)
	if err != nil {
		t.Fatalf("localblob.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv.Store()
}

func TestS3StoreOnGofakes3(t *testing.T) {
	for _, backend := range []struct{ name, dir string }{{"in memory", ""}, {"on disk", "tmp"}} {
		t.Run(backend.name, func(t *testing.T) {
			dir := backend.dir
			if dir != "" {
				dir = t.TempDir()
			}
			store := startStore(t, dir)
			ctx := context.Background()
			key := "bundles/sha256/" + strings.Repeat("0f", 32)
			body := []byte("a source bundle")

			t.Run("a missing key does not exist", func(t *testing.T) {
				size, exists, err := store.Stat(ctx, key)
				if err != nil || exists || size != 0 {
					t.Errorf("Stat = %d, %v, %v; want 0, false, nil", size, exists, err)
				}
			})
			t.Run("getting a missing key is not_found", func(t *testing.T) {
				if _, err := store.Get(ctx, key); !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("Get = %v; want not_found", err)
				}
			})
			t.Run("a put object is stat'ed with its size", func(t *testing.T) {
				if err := store.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
					t.Fatalf("Put: %v", err)
				}
				size, exists, err := store.Stat(ctx, key)
				if err != nil || !exists || size != int64(len(body)) {
					t.Errorf("Stat = %d, %v, %v; want %d, true, nil", size, exists, err, len(body))
				}
			})
			t.Run("a put object reads back", func(t *testing.T) {
				rc, err := store.Get(ctx, key)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				defer rc.Close()
				if got, _ := io.ReadAll(rc); !bytes.Equal(got, body) {
					t.Errorf("Get read %q, want %q", got, body)
				}
			})
			t.Run("a deleted object is gone, and deleting it again is no error", func(t *testing.T) {
				for i := range 2 {
					if err := store.Delete(ctx, key); err != nil {
						t.Fatalf("Delete #%d: %v", i+1, err)
					}
				}
				if _, exists, err := store.Stat(ctx, key); err != nil || exists {
					t.Errorf("Stat after Delete = %v, %v; want gone", exists, err)
				}
			})
		})
	}
}

func TestPresignedURLsWorkWithPlainHTTP(t *testing.T) {
	store := startStore(t, "")
	ctx := context.Background()
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	store.Now = func() time.Time { return at }
	key := "results/default/ex_1.json"
	body := []byte(`{"answer": 42}`)

	up, err := store.PresignPut(ctx, key, int64(len(body)), 15*time.Minute)
	if err != nil {
		t.Fatalf("PresignPut: %v", err)
	}
	t.Run("the upload is a PUT that expires after the ttl", func(t *testing.T) {
		if up.Method != http.MethodPut || !up.ExpiresAt.Equal(at.Add(15*time.Minute)) {
			t.Errorf("presigned %s expiring %v; want PUT expiring %v", up.Method, up.ExpiresAt, at.Add(15*time.Minute))
		}
		if !strings.Contains(up.URL, "X-Amz-Date=20300102T030405Z") || !strings.Contains(up.URL, "X-Amz-Expires=900") {
			t.Errorf("URL %s is not signed at the injected time for 900 s", up.URL)
		}
		if _, ok := up.Headers["Host"]; ok {
			t.Errorf("headers %v include Host", up.Headers)
		}
	})
	t.Run("a plain HTTP PUT to the URL stores the object", func(t *testing.T) {
		req, err := http.NewRequestWithContext(ctx, up.Method, up.URL, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT answered %s", resp.Status)
		}
		if size, exists, err := store.Stat(ctx, key); err != nil || !exists || size != int64(len(body)) {
			t.Errorf("Stat after PUT = %d, %v, %v", size, exists, err)
		}
	})
	t.Run("a plain HTTP GET of a presigned URL reads it back", func(t *testing.T) {
		url, err := store.PresignGet(ctx, key, time.Hour)
		if err != nil {
			t.Fatalf("PresignGet: %v", err)
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, body) {
			t.Errorf("GET answered %s %q; want 200 %q", resp.Status, got, body)
		}
	})
	t.Run("a lifetime beyond SigV4's seven days is refused", func(t *testing.T) {
		if _, err := store.PresignGet(ctx, key, 8*24*time.Hour); !errors.Is(err, registry.ErrInvalidArgument) {
			t.Errorf("PresignGet = %v; want invalid_argument", err)
		}
		if _, err := store.PresignPut(ctx, key, 1, 0); !errors.Is(err, registry.ErrInvalidArgument) {
			t.Errorf("PresignPut = %v; want invalid_argument", err)
		}
	})
}

func TestAMissingBucketIsAnInternalError(t *testing.T) {
	store := startStore(t, "")
	store.Bucket = "no-such-bucket"
	err := store.Put(context.Background(), "k", strings.NewReader("x"), 1)
	if registry.CodeOf(err) != registry.CodeInternal || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("Put = %v; want internal naming the bucket", err)
	}
}
