package sqlstore_test

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sqlstore"
)

// TestARegistryOfSchemaVersion1GainsDeploySecrets opens a file as the
// kitaru before flow secrets left it (schema 1: no versions.secrets) and
// checks that its versions read back without secrets and new deploys keep theirs.
func TestARegistryOfSchemaVersion1GainsDeploySecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := sqlstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	old := deploy(t, s, "p", "research", "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`ALTER TABLE versions DROP COLUMN secrets`, `DROP TABLE bundle_guards`, `PRAGMA user_version = 1`} {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("make the file schema 1: %s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlstore.Open(path)
	if err != nil {
		t.Fatalf("open a schema-1 file: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	got, err := s.GetDeployment(ctx, "p", "research", old.Version)
	if err != nil || got.Secrets != nil {
		t.Fatalf("the version saved before = secrets %v, %v; want none", got.Secrets, err)
	}
	d, err := s.Deploy(ctx, registry.DeployRequest{Project: "p", Flow: "research", Entrypoint: "flows/f.py:research", Stack: "dev", By: "tester", Secrets: []string{"OPENAI_API_KEY"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetDeployment(ctx, "p", "research", d.Version); err != nil || !slices.Equal(got.Secrets, []string{"OPENAI_API_KEY"}) {
		t.Errorf("a deploy after the migration = secrets %v, %v; want OPENAI_API_KEY", got.Secrets, err)
	}
}
