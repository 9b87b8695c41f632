package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/client"
)

// TestBuildSavesAnUnroutedVersionThatRunsWhenPinned builds a project twice
// on a real kitaru dev: the first version gets default, the second no tag,
// yet it runs when invoked by version and is promoted with a tag move.
func TestBuildSavesAnUnroutedVersionThatRunsWhenPinned(t *testing.T) {
	d := startDev(t)
	ctx := context.Background()
	root := copyProject(t, "research")
	deps := d.c.Deployments()
	opts := client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "builds"}`)}
	const target = "flows/research.py:research_agent"

	v1, err := deps.BuildDir(ctx, root, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := deps.BuildDir(ctx, root, target, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the first build gets default and the second no tag", func(t *testing.T) {
		if v1.Version != 1 || len(v1.Tags) != 1 || !v1.Tags["default"] {
			t.Errorf("first build v%d tags %v; want v1 {default}", v1.Version, v1.Tags)
		}
		if v2.Version != 2 || len(v2.Tags) != 0 {
			t.Errorf("second build v%d tags %v; want v2 with no tag", v2.Version, v2.Tags)
		}
	})
	t.Run("a build has the deploy's bundle and the signature's schema", func(t *testing.T) {
		if v2.Source == nil || v2.Source.Digest == "" || v2.Entrypoint != target {
			t.Errorf("source %+v entrypoint %q", v2.Source, v2.Entrypoint)
		}
		if string(v2.InputSchema) == "" {
			t.Error("no input schema")
		}
	})
	t.Run("default still resolves to the first build", func(t *testing.T) {
		r, err := deps.Resolve(ctx, "research_agent", client.Selector{})
		if err != nil || r.Version != 1 {
			t.Errorf("default resolves to v%d, %v; want v1", r.Version, err)
		}
	})
	t.Run("the unrouted build runs when invoked by version", func(t *testing.T) {
		h, err := v2.Invoke(ctx, client.InvokeOptions{Inputs: map[string]any{"topic": "pinned builds"}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		res, err := h.Result(ctx)
		if err != nil || string(res) != `"research notes on pinned builds"` {
			t.Errorf("result %s, %v", res, err)
		}
	})
	t.Run("promoting the build with a tag move routes to it", func(t *testing.T) {
		if _, err := deps.Tag(ctx, "research_agent", "stable", v2.Version, client.TagOptions{Exclusive: true}); err != nil {
			t.Fatal(err)
		}
		r, err := deps.Resolve(ctx, "research_agent", client.Selector{Tag: "stable"})
		if err != nil || r.Version != 2 {
			t.Errorf("stable resolves to v%d, %v; want v2", r.Version, err)
		}
	})
	t.Run("a build given a tag is refused before anything is sent", func(t *testing.T) {
		_, err := deps.BuildDir(ctx, root, target, client.DeployDirOptions{Tag: "canary"})
		if !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("got %v, want invalid_argument", err)
		}
	})
}
