// Package runnerfiles lays out the snapshot runner on disk: runner.py and the
// kitaru package beside it, the directory pyrunner.Runner runs
// `python3 <dir>/runner.py` in and the Lambda runner's code asset holds.
package runnerfiles

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kitaru/deployments/functions/runner"
	pysdk "github.com/kitaru/deployments/sdk/python"
)

// Write writes runner.py and kitaru/*.py into dir, creating it if needed and
// replacing files already there, so a directory written by an older binary
// is brought up to date.
func Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write the runner into %s: %w", dir, err)
	}
	if err := writeFile(filepath.Join(dir, "runner.py"), runner.Source); err != nil {
		return err
	}
	err := fs.WalkDir(pysdk.FS, "kitaru", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := pysdk.FS.ReadFile(p)
		if err != nil {
			return err
		}
		return writeFile(target, data)
	})
	if err != nil {
		return fmt.Errorf("write the kitaru package into %s: %w", dir, err)
	}
	return nil
}

// writeFile replaces path atomically, so a runner starting meanwhile never
// reads half a file.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
