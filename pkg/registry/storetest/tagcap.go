package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// testTagCapacity fills a flow up to its cap of routed tags
// (registry.MaxLiveTags, or less with Engine.LimitTags) and checks that only
// changes adding a tag are refused, with too_many_tags, and that freeing a
// tag makes room again.
func testTagCapacity(t *testing.T, f *fixture) {
	const flow = "capped"
	limit := registry.MaxLiveTags
	if f.engine.LimitTags != nil {
		limit = 12
		f.engine.LimitTags(f.store, limit)
	}
	deploy(t, f, flow, "", false)       // v1: default
	deploy(t, f, flow, "shared", false) // v2: shared (live tag 2)
	for i := 3; i <= limit; i++ {
		mustTag(t, f, flow, fmt.Sprintf("t%04d", i), 1+i%2, i%3 == 0)
	}
	wantTooMany := func(t *testing.T, err error) {
		t.Helper()
		wantCode(t, err, registry.CodeConflict, "remove a tag")
		var re *registry.Error
		if errors.As(err, &re) && (re.Details[registry.DetailReason] != registry.ReasonTooManyTags || re.Details["limit"] != limit) {
			t.Errorf("details %v; want reason too_many_tags and the limit", re.Details)
		}
	}
	t.Run("a flow at the cap refuses a new tag with too_many_tags", func(t *testing.T) {
		_, err := putTag(f, flow, "one-too-many", 1, true)
		wantTooMany(t, err)
		_, err = putTag(f, flow, "one-too-many-shared", 2, false)
		wantTooMany(t, err)
	})
	t.Run("a deploy that would route a new tag is refused; one moving a routed tag is not", func(t *testing.T) {
		_, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:capped", Tag: "new-canary", Exclusive: true, Stack: "dev", By: "tester"})
		wantTooMany(t, err)
		d := deploy(t, f, flow, "", false)
		if !d.Tags[registry.DefaultTag] {
			t.Errorf("plain deploy at the cap: tags %v, want default", d.Tags)
		}
		if b := build(t, f, flow); len(b.Tags) != 0 {
			t.Errorf("build at the cap: tags %v, want none", b.Tags)
		}
	})
	t.Run("routed tags still move and shared tags still gain members at the cap", func(t *testing.T) {
		mustTag(t, f, flow, "t0003", 2, true)
		mustTag(t, f, flow, "shared", 1, false)
	})
	t.Run("freeing a tag makes room for a new one", func(t *testing.T) {
		if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "t0004", Version: 1, By: "tester"}); err != nil {
			t.Fatal(err)
		}
		mustTag(t, f, flow, "room-again", 1, true)
		_, err := putTag(f, flow, "and-no-more", 1, true)
		wantTooMany(t, err)
	})
	t.Run("the flow summary lists exactly the cap", func(t *testing.T) {
		s, err := f.store.GetFlow(ctx, project, flow)
		if err != nil || len(s.Tags) != limit {
			t.Fatalf("summary has %d tags, %v; want %d", len(s.Tags), err, limit)
		}
	})
}
