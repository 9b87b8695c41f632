package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/cli"
)

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command prints help and succeeds", nil, cli.ExitOK},
		{"help succeeds", []string{"--help"}, cli.ExitOK},
		{"shell completion is generated", []string{"completion", "bash"}, cli.ExitOK},
		{"an unknown command is a usage error", []string{"deploi"}, cli.ExitUsage},
		{"an unknown flag is a usage error", []string{"dev", "--bogus"}, cli.ExitUsage},
		{"an extra argument is a usage error", []string{"dev", "extra"}, cli.ExitUsage},
		{"an address that cannot be listened on is an error", []string{"dev", "--addr", "127.0.0.1:notaport"}, cli.ExitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := cli.Run(context.Background(), tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("exit %d, want %d; stderr %s", got, tt.want, stderr.String())
			}
		})
	}
}

func TestDevServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Run(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--table", "cli-test"}, &stdout, &stderr)
	}()

	urlPattern := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if m := urlPattern.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed; stdout %q stderr %q", stdout.String(), stderr.String())
		}
	}
	t.Run("the banner names the backend and the stacks", func(t *testing.T) {
		for _, want := range []string{"in-process minidyn", "table cli-test", "dev (remote-executable, default)", "local (local-only"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("banner %q lacks %q", stdout.String(), want)
			}
		}
	})
	t.Run("the printed URL serves the API with the printed key", func(t *testing.T) {
		key := regexp.MustCompile(`kat_[a-z2-7]{16}_[A-Za-z0-9_-]{43}`).FindString(stdout.String())
		if key == "" {
			t.Fatalf("banner %q shows no API key", stdout.String())
		}
		req, _ := http.NewRequest("GET", url+"/v1/stacks", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("cancelling shuts down cleanly", func(t *testing.T) {
		cancel()
		select {
		case code := <-exit:
			if code != cli.ExitOK {
				t.Errorf("exit %d; stderr %s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("kitaru dev did not stop")
		}
	})
}
