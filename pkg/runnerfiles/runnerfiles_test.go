package runnerfiles_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/functions/runner"
	"github.com/kitaru/deployments/pkg/runnerfiles"
)

func python3(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not on PATH")
	}
	return p
}

func TestWriteLaysOutRunnerAndKitaruPackage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runner")
	if err := runnerfiles.Write(dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	// A second Write over the first replaces the files in place.
	if err := runnerfiles.Write(dir); err != nil {
		t.Fatalf("second Write: %v", err)
	}
	var got []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"kitaru/__init__.py", "kitaru/bundle.py", "kitaru/client.py", "kitaru/connection.py", "kitaru/errors.py",
		"kitaru/flow.py", "kitaru/retry.py", "kitaru/signature.py", "runner.py",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files in the runner dir (-want +got):\n%s", diff)
	}
	src, err := os.ReadFile(filepath.Join(dir, "runner.py"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, runner.Source) {
		t.Error("runner.py differs from runner.Source")
	}
}

func TestWrittenKitaruPackageImports(t *testing.T) {
	py := python3(t)
	dir := t.TempDir()
	if err := runnerfiles.Write(dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	script := `import sys; sys.path.insert(0, sys.argv[1]); import kitaru, runner
f = kitaru.flow(lambda topic: "notes on " + topic)
assert f(topic="x") == "notes on x" and runner.parse_entrypoint("flows/a.py:f") == ("flows/a.py", "f")
print(kitaru.__file__)`
	out, err := exec.Command(py, "-B", "-c", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("python3 could not import kitaru and runner from %s: %v\n%s", dir, err, out)
	}
	if want := filepath.Join(dir, "kitaru", "__init__.py"); string(bytes.TrimSpace(out)) != want {
		t.Errorf("kitaru imported from %s, want %s", out, want)
	}
}

// TestWrittenRunnerRunsTheResearchFlow runs the written runner on a bundle of
// testdata/flows/research served over HTTP, as kitaru dev does.
func TestWrittenRunnerRunsTheResearchFlow(t *testing.T) {
	py := python3(t)
	dir := t.TempDir()
	if err := runnerfiles.Write(dir); err != nil {
		t.Fatalf("Write: %v", err)
	}
	bundle := tarGz(t, filepath.Join("..", "..", "testdata", "flows", "research"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(bundle)
	}))
	defer srv.Close()
	sum := sha256.Sum256(bundle)
	event, err := json.Marshal(map[string]any{
		"project": "default", "exec_id": "ex_01JRUNNERFILES", "flow": "research_agent", "version": 1,
		"snapshot": "kitaru::research_agent::v1", "entrypoint": "flows/research.py:research_agent",
		"inputs": map[string]any{"topic": "go"},
		"bundle": map[string]any{"digest": "sha256:" + hex.EncodeToString(sum[:]), "url": srv.URL + "/bundle"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-B", filepath.Join(dir, "runner.py"))
	cmd.Stdin = bytes.NewReader(event)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("runner.py: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	var answer map[string]any
	if err := json.Unmarshal(out, &answer); err != nil {
		t.Fatalf("the answer is not one JSON document: %v: %q", err, out)
	}
	if diff := cmp.Diff(map[string]any{"result": "research notes on go"}, answer); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

// tarGz archives root's files under names relative to root.
func tarGz(t *testing.T, root string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "__pycache__":
			return filepath.SkipDir
		case d.IsDir() || filepath.Ext(p) == ".pyc":
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatalf("archive %s: %v", root, err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
