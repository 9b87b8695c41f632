package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
)

func TestInit(t *testing.T) {
	t.Run("init creates .kitaru/config.json in the current directory", func(t *testing.T) {
		dir := t.TempDir()
		t.Chdir(dir)
		exit, stdout, stderr := kitaru(t, "init")
		if exit != cli.ExitOK || !strings.Contains(stdout, "Initialized a Kitaru project in") {
			t.Fatalf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		data, err := os.ReadFile(filepath.Join(dir, ".kitaru", "config.json"))
		if err != nil || strings.Join(strings.Fields(string(data)), "") != `{"version":1}` {
			t.Errorf("config.json = %q, %v", data, err)
		}
	})
	t.Run("init again changes nothing and says so", func(t *testing.T) {
		dir := t.TempDir()
		config := filepath.Join(dir, ".kitaru", "config.json")
		kitaru(t, "init", "--path", dir)
		os.WriteFile(config, []byte(`{"version": 1, "kept": true}`), 0o644)
		exit, stdout, _ := kitaru(t, "init", "--path", dir)
		if exit != cli.ExitOK || !strings.Contains(stdout, "already a Kitaru project") {
			t.Errorf("exit %d, stdout %q", exit, stdout)
		}
		if data, _ := os.ReadFile(config); !strings.Contains(string(data), "kept") {
			t.Errorf("config.json was rewritten: %s", data)
		}
	})
	t.Run("init completes a .kitaru directory without config", func(t *testing.T) {
		dir := t.TempDir()
		os.Mkdir(filepath.Join(dir, ".kitaru"), 0o755)
		if exit, stdout, _ := kitaru(t, "init", "--path", dir); exit != cli.ExitOK || !strings.Contains(stdout, "created") {
			t.Errorf("exit %d, stdout %q", exit, stdout)
		}
	})
	t.Run("init of a missing directory fails", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "init", "--path", filepath.Join(t.TempDir(), "missing"))
		if exit != cli.ExitError || !strings.Contains(stderr, "missing") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
	t.Run("init with an argument is a usage error", func(t *testing.T) {
		if exit, _, _ := kitaru(t, "init", "somewhere"); exit != cli.ExitUsage {
			t.Errorf("exit %d, want %d", exit, cli.ExitUsage)
		}
	})
}
