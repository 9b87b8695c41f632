package sqlstore_test

import (
	"database/sql"
	"fmt"
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
	downgrade(t, path, 1, slices.Concat(undoV5, undoV4, undoV3, []string{`ALTER TABLE versions DROP COLUMN secrets`})...)

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

// undoV5 turns a schema-5 file back into schema 4 (no start claims).
var undoV5 = []string{`ALTER TABLE executions DROP COLUMN start_claims`}

// undoV3 turns a schema-3 file back into schema 2 (no bundle guards).
var undoV3 = []string{`DROP TABLE bundle_guards`}

// undoV4 turns a schema-4 file back into schema 3 (no splits).
var undoV4 = []string{
	`DROP INDEX route_one_target`,
	`ALTER TABLE route_members DROP COLUMN weight`,
	`CREATE UNIQUE INDEX route_one_target ON route_members (project, flow, tag) WHERE exclusive = 1`,
	`ALTER TABLE history DROP COLUMN from_split`,
	`ALTER TABLE history DROP COLUMN to_split`,
	`ALTER TABLE executions DROP COLUMN route_revision`,
}

// downgrade makes the closed registry at path look as a kitaru of schema
// version left it, by running stmts and setting user_version.
func downgrade(t *testing.T, path string, version int, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range append(stmts, fmt.Sprintf("PRAGMA user_version = %d", version)) {
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("make the file schema %d: %s: %v", version, stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestARegistryOfSchemaVersion3GainsSplits opens a file as the kitaru
// before splits left it (schema 3) and checks that its routes and history
// read back as they were, and a split can then be set and read.
func TestARegistryOfSchemaVersion3GainsSplits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := sqlstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	deploy(t, s, "p", "research", "")
	deploy(t, s, "p", "research", "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	downgrade(t, path, 3, slices.Concat(undoV5, undoV4)...)

	s, err = sqlstore.Open(path)
	if err != nil {
		t.Fatalf("open a schema-3 file: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if tag, err := s.GetTag(ctx, "p", "research", "default"); err != nil || !slices.Equal(tag.Versions, []int{2}) || tag.Split != nil {
		t.Fatalf("default after the migration = %+v, %v; want on version 2, not split", tag, err)
	}
	split := registry.Split{1: 30, 2: 70}
	tag, err := s.PutTag(ctx, registry.TagRequest{Project: "p", Flow: "research", Tag: "default", Split: split, By: "tester"})
	if err != nil || !tag.Split.Equal(split) {
		t.Fatalf("split default after the migration = %+v, %v; want %v", tag, err, split)
	}
	h, err := s.TagHistory(ctx, "p", "research", "default", registry.PageRequest{})
	if err != nil || len(h.Items) != 3 || !h.Items[0].ToSplit.Equal(split) || *h.Items[0].From != 2 || *h.Items[1].To != 2 {
		t.Fatalf("history after the migration = %+v, %v; want the split on top of the two deploys", h.Items, err)
	}
}

// TestARegistryOfSchemaVersion4GainsStartClaims opens a file as the kitaru
// before start claims left it, with an execution running: its recorder
// holds claim 1, a replay's claim is 2, and only that one abandons it.
func TestARegistryOfSchemaVersion4GainsStartClaims(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := sqlstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e, created, err := s.CreateExecution(ctx, registry.Execution{Project: "p", ExecID: "ex_01kcl4im0000000000000000aa", Flow: "research", Version: 1,
		Snapshot: registry.SnapshotName("research", 1), Status: registry.StatusRunning, IdempotencyKey: "k"})
	if err != nil || !created {
		t.Fatalf("create: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	downgrade(t, path, 4, undoV5...)

	s, err = sqlstore.Open(path)
	if err != nil {
		t.Fatalf("open a schema-4 file: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if claim, err := s.ClaimStart(ctx, "p", e.ExecID); err != nil || claim != 2 {
		t.Fatalf("a replay's claim after the migration = %d, %v; want 2", claim, err)
	}
	if err := s.AbandonExecution(ctx, "p", e.ExecID, 1); registry.CodeOf(err) != registry.CodeConflict {
		t.Fatalf("the recorder's abandon = %v; want conflict", err)
	}
	if err := s.AbandonExecution(ctx, "p", e.ExecID, 2); err != nil {
		t.Fatalf("the replay's abandon: %v", err)
	}
}
