package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

func testGetTag(t *testing.T, f *fixture) {
	deploy(t, f, "taginfo", "", false)
	deploy(t, f, "taginfo", "", false)
	mustTag(t, f, "taginfo", "stable", 1, true)
	moved := mustTag(t, f, "taginfo", "stable", 2, true)
	mustTag(t, f, "taginfo", "bench", 1, false)
	shared := mustTag(t, f, "taginfo", "bench", 2, false)

	t.Run("an exclusive tag reads as the last change committed it, revision included", func(t *testing.T) {
		got, err := f.store.GetTag(ctx, project, "taginfo", "stable")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(moved, got); diff != "" {
			t.Fatalf("GetTag differs from the PutTag answer (-put +get):\n%s", diff)
		}
	})
	t.Run("a shared tag lists every version it is on", func(t *testing.T) {
		got, err := f.store.GetTag(ctx, project, "taginfo", "bench")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(shared, got); diff != "" || len(got.Versions) != 2 {
			t.Fatalf("GetTag differs from the PutTag answer (-put +get):\n%s", diff)
		}
	})
	t.Run("the revision is what If-Match accepts", func(t *testing.T) {
		got, err := f.store.GetTag(ctx, project, "taginfo", "stable")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "taginfo", Tag: "stable", Version: 1, Exclusive: true, IfRevision: &got.Revision, By: "tester"}); err != nil {
			t.Fatalf("a move conditional on the revision read: %v", err)
		}
	})
	t.Run("a tag removed from its last version is not found", func(t *testing.T) {
		mustTag(t, f, "taginfo", "gone", 1, false)
		if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "taginfo", Tag: "gone", Version: 1, By: "tester"}); err != nil {
			t.Fatal(err)
		}
		_, err := f.store.GetTag(ctx, project, "taginfo", "gone")
		wantCode(t, err, registry.CodeNotFound, `no tag "gone"`)
	})
	t.Run("an unknown tag and an unknown flow are not found", func(t *testing.T) {
		_, err := f.store.GetTag(ctx, project, "taginfo", "nope")
		wantCode(t, err, registry.CodeNotFound, `no tag "nope"`)
		_, err = f.store.GetTag(ctx, project, "no_such_flow", "stable")
		wantCode(t, err, registry.CodeNotFound, "has no deployments")
	})
	t.Run("another project does not see the tag", func(t *testing.T) {
		_, err := f.store.GetTag(ctx, "other", "taginfo", "stable")
		wantCode(t, err, registry.CodeNotFound)
	})
}
