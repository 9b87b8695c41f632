package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/pysig"
)

// copyProject copies a project under testdata/flows to a temporary
// directory, so that a test can add to it.
func copyProject(t *testing.T, project string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "flows", project))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// addRandomFile writes size bytes of random data, which gzip cannot shrink.
func addRandomFile(t *testing.T, path string, size int) {
	t.Helper()
	data := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeployDirUploadsALargeProjectAndRunsIt is issue 14's acceptance for
// the SDK: a project with a 10 MiB file of random bytes (a bundle gzip
// cannot shrink below the 4 MiB inline limit) deploys through the artifact
// upload and runs. Building it is slow under -race (gzip at its best
// compression), so it is deployed once.
func TestDeployDirUploadsALargeProjectAndRunsIt(t *testing.T) {
	d := startDev(t)
	ctx := context.Background()
	root := copyProject(t, "research")
	addRandomFile(t, filepath.Join(root, "weights.bin"), 10<<20)
	opts := client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "durable agents"}`)}

	// The target is relative to dir, not to the test's working directory.
	v1, err := d.c.Deployments().DeployDir(ctx, root, "flows/research.py:research_agent", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the 10 MiB bundle is over the inline limit, so it went through the artifact upload", func(t *testing.T) {
		if v1.Source == nil || v1.Source.Size <= 10<<20 || !strings.HasPrefix(v1.Source.Digest, bundle.DigestPrefix) {
			t.Fatalf("source %+v; want a digest of more than 10 MiB", v1.Source)
		}
		t.Logf("bundle %s, %s", v1.Source.Digest, bundle.FormatSize(v1.Source.Size))
	})
	t.Run("the entrypoint is relative to the project root and the schema is the signature's", func(t *testing.T) {
		if v1.Flow != "research_agent" || v1.Version != 1 || v1.Entrypoint != "flows/research.py:research_agent" {
			t.Errorf("deployment %+v", v1.Deployment)
		}
		if !strings.Contains(string(v1.InputSchema), `"topic"`) {
			t.Errorf("input schema %s; want the signature's topic", v1.InputSchema)
		}
	})
	t.Run("invoking it returns the flow's real result", func(t *testing.T) {
		h, err := v1.Invoke(ctx, client.InvokeOptions{Inputs: map[string]any{"topic": "large bundles"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		res, err := h.Result(ctx)
		if err != nil || string(res) != `"research notes on large bundles"` {
			t.Errorf("result %s, %v", res, err)
		}
	})
	t.Run("the server keeps the bundle, so deploying the same bytes again uploads nothing", func(t *testing.T) {
		a, err := d.c.CreateArtifact(ctx, v1.Source.Digest, v1.Source.Size)
		if err != nil || !a.Exists || a.Upload != nil {
			t.Errorf("artifact %+v, %v; want the server to have it", a, err)
		}
	})
}

func TestDeployDirWithoutPythonWarnsAndTakesTheGivenSchema(t *testing.T) {
	d := startDev(t)
	t.Setenv(pysig.PythonEnv, filepath.Join(t.TempDir(), "no-python"))
	root := copyProject(t, "research")
	var warnings []string
	opts := client.DeployDirOptions{Warn: func(msg string) { warnings = append(warnings, msg) }}

	dep, err := d.c.Deployments().DeployDir(context.Background(), root, "flows/research.py:research_agent", opts)
	if err != nil || dep.InputSchema != nil {
		t.Fatalf("deployment %+v, %v; want one without a schema", dep.Deployment, err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "cannot check that flows/research.py defines research_agent") {
		t.Errorf("warnings %q", warnings)
	}
	opts.InputSchema = json.RawMessage(`{"type": "object", "properties": {"topic": {"type": "string"}}}`)
	if dep, err = d.c.Deployments().DeployDir(context.Background(), root, "flows/research.py:research_agent", opts); err != nil || !strings.Contains(string(dep.InputSchema), `"topic"`) {
		t.Errorf("with InputSchema: %+v, %v", dep.Deployment, err)
	}
}

func TestDeployDirRefusesBeforeSending(t *testing.T) {
	// No server listens here: every refusal must come before a request.
	c := newClient(t, "http://127.0.0.1:1", client.WithAuthToken("kat_test"))
	root := copyProject(t, "research")
	bare := t.TempDir()
	if err := os.WriteFile(filepath.Join(bare, "f.py"), []byte("def f():\n    return 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		dir    string
		target string
		opts   client.DeployDirOptions
		want   error
		msg    string
	}{
		{"a target without a function is refused", root, "flows/research.py", client.DeployDirOptions{}, client.ErrInvalidArgument, "path/to/file.py:function"},
		{"a missing file is refused", root, "flows/missing.py:research_agent", client.DeployDirOptions{}, client.ErrInvalidArgument, "not a file"},
		{"a file outside a project is refused", bare, "f.py:f", client.DeployDirOptions{}, client.ErrPreconditionFailed, "kitaru init"},
		{"inputs that are not an object are refused", root, "flows/research.py:research_agent", client.DeployDirOptions{Inputs: json.RawMessage(`[1]`)}, client.ErrInvalidArgument, "JSON object"},
		{"an input schema that is not a JSON Schema is refused", root, "flows/research.py:research_agent", client.DeployDirOptions{InputSchema: json.RawMessage(`{"type": "objekt"}`)}, client.ErrInvalidArgument, "input_schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Deployments().DeployDir(context.Background(), tt.dir, tt.target, tt.opts)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err %v; want %v mentioning %q", err, tt.want, tt.msg)
			}
		})
	}
}
