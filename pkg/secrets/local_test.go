package secrets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/secrets"
	"github.com/kitaru/deployments/pkg/secrets/secretstest"
)

func TestMemoryStore(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secrets.Store { return secrets.NewMemory(nil) })
}

func TestFileStore(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secrets.Store {
		s, err := secrets.OpenFile(filepath.Join(t.TempDir(), "secrets.json"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestFileStoreKeepsSecretsInAFileOnlyItsOwnerCanRead(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "secrets.json")
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	s, err := secrets.OpenFile(path, func() time.Time { return at })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(ctx, "p1", "TOKEN", "s3cr3t"); err != nil {
		t.Fatal(err)
	}
	t.Run("the file has mode 0600", func(t *testing.T) {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("mode %v; want 0600", info.Mode().Perm())
		}
	})
	t.Run("a reopened store has the secrets and their update times", func(t *testing.T) {
		again, err := secrets.OpenFile(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := again.Resolve(ctx, "p1", []string{"TOKEN"})
		if err != nil || got["TOKEN"] != "s3cr3t" {
			t.Fatalf("Resolve after reopen = %v, %v; want s3cr3t", got, err)
		}
		list, _ := again.List(ctx, "p1")
		if len(list) != 1 || !list[0].UpdatedAt.Equal(at) {
			t.Errorf("List after reopen = %+v; want TOKEN updated at %v", list, at)
		}
	})
	t.Run("no temporary file is left beside it", func(t *testing.T) {
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("directory holds %d entries; want the secrets file only", len(entries))
		}
	})
	t.Run("a file others can read is refused with a message saying to chmod it", func(t *testing.T) {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(path, 0o600) })
		_, err := secrets.OpenFile(path, nil)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("OpenFile of a 0644 file: %v; want a refusal saying chmod 600", err)
		}
	})
}
