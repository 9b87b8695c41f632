package bundle

import (
	"os"
	"path/filepath"

	"github.com/kitaru/deployments/pkg/registry"
)

// ProjectDir marks a project root (kitaru init creates it): a deploy
// bundles the nearest directory above its target that holds it.
const ProjectDir = ".kitaru"

// FindProjectRoot returns the nearest directory from dir upward holding
// ProjectDir. Errors: precondition_failed saying to run kitaru init.
func FindProjectRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if info, err := os.Stat(filepath.Join(d, ProjectDir)); err == nil && info.IsDir() {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", registry.Errorf(registry.CodePreconditionFailed, "no Kitaru project: neither %s nor a parent directory holds %s/; run `kitaru init` in the repository root first", dir, ProjectDir)
		}
	}
}
