//go:build unix

package bundle_test

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestBuildRefusesAFIFO(t *testing.T) {
	root := writeTree(t, map[string]string{"flow.py": "code"})
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	if _, err := bundle.Build(root); !errors.Is(err, registry.ErrInvalidArgument) {
		t.Fatalf("Build = %v; want invalid_argument", err)
	}
}
