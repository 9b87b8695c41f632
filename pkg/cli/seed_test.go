package cli_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/devstack"
)

// copyDir copies the testdata project src into a fresh directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestSeedStoriesOnKitaruDev runs the seed's producer and consumer commands
// against a real kitaru dev, which runs the flow with python3.
func TestSeedStoriesOnKitaruDev(t *testing.T) {
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("KITARU_SERVER_URL", srv.URL())
	t.Setenv("KITARU_AUTH_TOKEN", srv.APIKey())
	t.Setenv("KITARU_PROJECT", devstack.Project)
	t.Setenv("KITARU_CONFIG_DIR", t.TempDir())
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "research"))
	target := filepath.Join(root, "flows", "research.py") + ":research_agent"

	steps := []struct {
		name string
		args []string
		want string
	}{
		{"the producer deploys the first default version", []string{"deploy", target, "--input", `{"topic": "durable agents"}`}, "version 1"},
		{"the producer deploys a canary candidate", []string{"deploy", target, "--tag", "canary", "--exclusive", "--input", `{"topic": "durable agents"}`}, "canary*"},
		{"a consumer invokes the canary and waits for the real result", []string{"invoke", "research_agent", "--tag", "canary", "--input", `{"topic": "deployment routing"}`, "--wait"}, `"research notes on deployment routing"`},
		{"invoking without a selector uses default", []string{"invoke", "research_agent", "--input", `{"topic": "default route"}`, "--wait"}, `"research notes on default route"`},
		{"a pinned version runs that version", []string{"invoke", "research_agent", "--version", "2", "--input", `{"topic": "pinned run"}`, "--wait", "-o", "json"}, `"version": 2`},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, s.args...)
			if exit != 0 || !strings.Contains(stdout, s.want) {
				t.Fatalf("exit %d, stdout %q (want it to contain %q), stderr %q", exit, stdout, s.want, stderr)
			}
		})
	}
	t.Run("deploying outside an initialised project says to run kitaru init", func(t *testing.T) {
		bare := t.TempDir()
		if err := os.WriteFile(filepath.Join(bare, "f.py"), []byte("def f():\n    return 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		exit, _, stderr := kitaru(t, "deploy", filepath.Join(bare, "f.py")+":f")
		if exit != 1 || !strings.Contains(stderr, "kitaru init") {
			t.Fatalf("exit %d, stderr %q", exit, stderr)
		}
	})
}
