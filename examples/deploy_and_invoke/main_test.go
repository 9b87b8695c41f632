package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
)

// TestProducerStoryOnKitaruDev runs the example against a real kitaru dev.
// The 10 MiB deploy through the artifact upload is pkg/client's
// TestDeployDirUploadsALargeProjectAndRunsIt: building such a bundle twice
// here would double the slowest part of the suite.
func TestProducerStoryOnKitaruDev(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed: kitaru dev cannot run flows")
	}
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c, err := client.New(srv.URL(), client.WithAuthToken(srv.APIKey()))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "..", "testdata", "flows", "research"))); err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	if err := run(context.Background(), c, filepath.Join(root, "flows", "research.py")+":research_agent", &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"deployed research_agent v1 from bundle sha256:",
		"deployed research_agent v2 from bundle sha256:",
		"tag stable → v2",
		`: "research notes on deployment routing"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
