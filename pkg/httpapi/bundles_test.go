package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
)

// TestBundlesStayInTheirProject is issue #12 item 5: bundles were stored by
// digest alone, so another project could see, deploy and poison them.
func TestBundlesStayInTheirProject(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	archive, err := base64.StdEncoding.DecodeString(researchArchive)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(archive)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	announce := `{"sha256": "` + hex.EncodeToString(sum[:]) + `", "size": ` + strconv.Itoa(len(archive)) + `}`
	byDigest := deployBody(`"source": {"digest": "` + digest + `"}`)
	const deploy = "/v1/flows/research_agent/deployments"
	in := func(project string, method, target, body string) (int, string) {
		t.Helper()
		resp, err := f.dev.Handle(ctx, as(request(method, target, body), project, "producer", project+"-key"))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Body
	}
	if status, body := in("isolation-a", "POST", deploy, deployBody("")); status != http.StatusCreated {
		t.Fatalf("isolation-a's inline deploy answered %d %s", status, body)
	}

	t.Run("another project is told the bundle is absent and gets an upload of its own", func(t *testing.T) {
		status, body := in("isolation-b", "POST", "/v1/artifacts", announce)
		st := decode[api.ArtifactStatus](t, body)
		if status != http.StatusOK || st.Exists || st.Upload == nil {
			t.Fatalf("isolation-b's POST /v1/artifacts = %d %s; want 200 exists:false with an upload", status, body)
		}
	})
	t.Run("another project cannot deploy the bundle by digest", func(t *testing.T) {
		if status, body := in("isolation-b", "POST", deploy, byDigest); status != http.StatusNotFound {
			t.Errorf("isolation-b's deploy by digest = %d %s; want 404", status, body)
		}
	})
	t.Run("the owning project sees and deploys it", func(t *testing.T) {
		if status, body := in("isolation-a", "POST", "/v1/artifacts", announce); status != http.StatusOK || !decode[api.ArtifactStatus](t, body).Exists {
			t.Errorf("isolation-a's POST /v1/artifacts = %d %s; want exists:true", status, body)
		}
		if status, body := in("isolation-a", "POST", deploy, byDigest); status != http.StatusCreated {
			t.Errorf("isolation-a's deploy by digest = %d %s; want 201", status, body)
		}
	})
	t.Run("the upload URL is signed for the digest and the size", func(t *testing.T) {
		_, body := in("isolation-c", "POST", "/v1/artifacts", announce)
		up := decode[api.ArtifactStatus](t, body).Upload
		want := map[string]string{"X-Amz-Checksum-Sha256": base64.StdEncoding.EncodeToString(sum[:]), "Content-Length": strconv.Itoa(len(archive))}
		for k, v := range want {
			if up == nil || up.Headers[k] != v {
				t.Fatalf("upload %+v lacks the signed header %s: %s", up, k, v)
			}
		}
	})
	t.Run("a poisoned upload is refused at deploy and does not stick", func(t *testing.T) {
		// 549 zero bytes at isolation-d's key, as a store that checks no checksum
		// (gofakes3 under kitaru dev) lets an upload leave them.
		key, err := bundle.KeyFor("isolation-d", digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := artifactStore.Blobs.Put(ctx, key, bytes.NewReader(make([]byte, 549)), 549); err != nil {
			t.Fatal(err)
		}
		if status, body := in("isolation-d", "POST", deploy, byDigest); status != http.StatusUnprocessableEntity {
			t.Errorf("deploy by digest of poisoned bytes = %d %s; want 422", status, body)
		}
		if status, body := in("isolation-d", "POST", "/v1/artifacts", announce); status != http.StatusOK || decode[api.ArtifactStatus](t, body).Exists {
			t.Errorf("POST /v1/artifacts over poisoned bytes = %d %s; want exists:false and an upload", status, body)
		}
		if status, body := in("isolation-d", "POST", deploy, deployBody("")); status != http.StatusCreated {
			t.Fatalf("inline deploy over poisoned bytes = %d %s; want 201", status, body)
		}
		if got := read(t, key); !bytes.Equal(got, archive) {
			t.Errorf("after the inline deploy the store holds %d bytes, not the %d-byte bundle", len(got), len(archive))
		}
		if status, body := in("isolation-d", "POST", deploy, byDigest); status != http.StatusCreated {
			t.Errorf("deploy by digest after the inline deploy = %d %s; want 201", status, body)
		}
	})
	t.Run("a corrupt object of the right size is not trusted by an inline deploy", func(t *testing.T) {
		key, err := bundle.KeyFor("isolation-e", digest)
		if err != nil {
			t.Fatal(err)
		}
		if err := artifactStore.Blobs.Put(ctx, key, bytes.NewReader(make([]byte, len(archive))), int64(len(archive))); err != nil {
			t.Fatal(err)
		}
		if status, body := in("isolation-e", "POST", deploy, byDigest); status != http.StatusUnprocessableEntity {
			t.Errorf("deploy by digest of corrupt bytes = %d %s; want 422", status, body)
		}
		if status, body := in("isolation-e", "POST", deploy, deployBody("")); status != http.StatusCreated {
			t.Fatalf("inline deploy = %d %s; want 201", status, body)
		}
		if got := read(t, key); !bytes.Equal(got, archive) {
			t.Errorf("the inline deploy kept the corrupt object")
		}
	})
}

func read(t *testing.T, key string) []byte {
	t.Helper()
	rc, err := artifactStore.Blobs.Get(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
