package client_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// changedResearch is the research project with notes.py changed, bundled.
func changedResearch(t *testing.T) *client.Source {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "flows", "research")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "flows", "notes.py")
	if err := os.WriteFile(notes, []byte("def format_notes(topic: str) -> str:\n    return f\"notes: {topic}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &client.Source{Archive: b.Data, Commit: "feedbeef"}
}

func TestDiffOnKitaruDev(t *testing.T) {
	d := startDev(t)
	ctx := context.Background()
	deps := d.c.Deployments()
	const flow = "research_agent"
	d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "durable agents"}`, client.DeployRequest{})
	if _, err := deps.Deploy(ctx, flow, client.DeployRequest{
		Entrypoint: "flows/research.py:research_agent", Source: changedResearch(t), Inputs: []byte(`{"topic": "routing"}`), Tag: "canary", Exclusive: true,
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("Diff resolves a tag and shows the changed file as a unified diff", func(t *testing.T) {
		diff, err := deps.Diff(ctx, flow, "default", "canary", client.DiffOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff.From.Version != 1 || diff.To.Version != 2 || diff.To.Tag != "canary" || diff.Identical {
			t.Fatalf("diff %+v → %+v; want default (1) → canary (2)", diff.From, diff.To)
		}
		if len(diff.Inputs) != 1 || diff.Inputs[0].Key != "topic" || string(diff.Inputs[0].After) != `"routing"` {
			t.Errorf("inputs = %+v", diff.Inputs)
		}
		if len(diff.Source.Files) != 1 || diff.Source.Files[0].Path != "flows/notes.py" || diff.Source.Files[0].Change != api.ChangeModified ||
			!strings.Contains(diff.Source.Files[0].Diff, "+    return f\"notes: {topic}\"\n") {
			t.Errorf("source = %+v", diff.Source)
		}
	})
	t.Run("Diff narrowed by Path lists only that path", func(t *testing.T) {
		diff, err := deps.Diff(ctx, flow, "1", "2", client.DiffOptions{Path: "flows/research.py"})
		if err != nil || len(diff.Source.Files) != 0 || diff.Source.Path != "flows/research.py" || diff.Source.Summary.Unchanged != 1 {
			t.Fatalf("diff = %+v, %v; want research.py unchanged", diff.Source, err)
		}
	})
	t.Run("Diff of a version with itself is empty", func(t *testing.T) {
		diff, err := deps.Diff(ctx, flow, "2", "canary", client.DiffOptions{})
		if err != nil || !diff.Identical || len(diff.Source.Files) != 0 {
			t.Fatalf("diff = %+v, %v; want identical", diff, err)
		}
	})
	t.Run("Diff of an unknown version is ErrNotFound with its reason", func(t *testing.T) {
		_, err := deps.Diff(ctx, flow, "1", "7", client.DiffOptions{})
		var e *registry.Error
		if !errors.Is(err, client.ErrNotFound) || !errors.As(err, &e) || e.Details[registry.DetailReason] != registry.ReasonVersionNotFound {
			t.Fatalf("diff = %v; want not_found, version_not_found", err)
		}
	})
}
