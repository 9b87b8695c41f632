package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/bundle"
)

// projectConfig is .kitaru/config.json.
type projectConfig struct {
	Version int `json:"version"`
}

func newInitCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Mark a directory as a Kitaru project root",
		Long: `init creates .kitaru/config.json in the current directory (or --path), marking
it as the project root. kitaru deploy bundles the whole project root as the
deployment's source, and entrypoint paths are relative to it, so run init in
the repository root. Running it again changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			created, err := initProject(abs)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !created {
				fmt.Fprintf(out, "%s is already a Kitaru project (%s exists); nothing changed.\n", abs, filepath.Join(bundle.ProjectDir, "config.json"))
				return nil
			}
			fmt.Fprintf(out, "Initialized a Kitaru project in %s: created %s.\n", abs, filepath.Join(bundle.ProjectDir, "config.json"))
			fmt.Fprintln(out, "Deploy flows with `kitaru deploy path/to/file.py:flow_name`; the whole directory is the deployment's source.")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "path", ".", "directory to initialize; it must exist")
	return cmd
}

// initProject creates dir/.kitaru/config.json unless it exists and reports
// whether it did.
func initProject(dir string) (created bool, err error) {
	info, err := os.Stat(dir)
	if err != nil {
		return false, fmt.Errorf("cannot initialize %s: %w", dir, err)
	}
	if !info.IsDir() {
		return false, fmt.Errorf("cannot initialize %s: it is not a directory", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, bundle.ProjectDir), 0o755); err != nil {
		return false, fmt.Errorf("create %s: %w", filepath.Join(dir, bundle.ProjectDir), err)
	}
	path := filepath.Join(dir, bundle.ProjectDir, "config.json")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	data, _ := json.MarshalIndent(projectConfig{Version: 1}, "", "  ")
	_, werr := f.Write(append(data, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}
