package devstack_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// projectWithData bundles a project of one flow and size bytes of data that
// does not compress, so the bundle is a little over size.
func projectWithData(t *testing.T, size int) []byte {
	t.Helper()
	dir := t.TempDir()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "flows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "flows", "sized.py"), []byte("def sized():\n    return 'ran'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b.Data
}

func TestDevHonoursKitaruMaxBundleMBAsTheFunctionsDo(t *testing.T) {
	if _, err := os.Stat("/usr/bin/env"); err != nil {
		t.Skip("no /usr/bin/env")
	}
	t.Setenv("KITARU_MAX_BUNDLE_MB", "1")
	a := startDev(t)
	deploy := func(archive []byte) (int, registry.Deployment, api.ErrorBody) {
		t.Helper()
		body := map[string]any{"entrypoint": "flows/sized.py:sized", "source": map[string]any{"archive": base64.StdEncoding.EncodeToString(archive)}}
		var raw json.RawMessage
		status := a.do("POST", "/v1/flows/sized/deployments", body, nil, &raw)
		var d registry.Deployment
		var e api.ErrorBody
		if status == http.StatusCreated {
			d = decode[registry.Deployment](t, string(raw))
		} else {
			e = decode[api.ErrorBody](t, string(raw))
		}
		return status, d, e
	}

	t.Run("a bundle over the setting, under the 64 MiB default, is refused at deploy", func(t *testing.T) {
		status, _, env := deploy(projectWithData(t, 3<<19))
		if status != http.StatusRequestEntityTooLarge || env.Error.Code != registry.CodePayloadTooLarge || env.Error.Details["limit_bytes"] != float64(1<<20) {
			t.Fatalf("deploy: status %d, error %+v; want 413 with the 1 MiB limit", status, env.Error)
		}
	})
	t.Run("a bundle under the setting deploys and runs with the setting as its limit", func(t *testing.T) {
		status, d, env := deploy(projectWithData(t, 1<<19))
		if status != http.StatusCreated {
			t.Fatalf("deploy: status %d, error %+v", status, env.Error)
		}
		var e registry.Execution
		if status := a.do("POST", "/v1/flows/sized/versions/"+strconv.Itoa(d.Version)+"/invocations", map[string]any{}, nil, &e); status != http.StatusAccepted {
			t.Fatalf("invoke: status %d", status)
		}
		if done := a.wait(e.ExecID, time.Minute); done.Status != registry.StatusCompleted || string(done.Result) != `"ran"` {
			t.Fatalf("execution ended %s with result %s, error %+v", done.Status, done.Result, done.Error)
		}
	})
}

func TestDevRefusesToStartWithAnInvalidKitaruMaxBundleMB(t *testing.T) {
	t.Setenv("KITARU_MAX_BUNDLE_MB", "64MB")
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0"})
	if err == nil {
		_ = srv.Close()
		t.Fatal("Start succeeded; want an error naming KITARU_MAX_BUNDLE_MB")
	}
	if !strings.Contains(err.Error(), "KITARU_MAX_BUNDLE_MB") {
		t.Errorf("error %q does not name KITARU_MAX_BUNDLE_MB", err)
	}
}
