package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/prune"
	"github.com/kitaru/deployments/pkg/registry"
)

// testPruneKeepsSplitMembers: every version of a split holds the exclusive
// route, so a prune keeps them all as routed, and deletes the rest.
func testPruneKeepsSplitMembers(t *testing.T, f *fixture) {
	for range 4 {
		deployBundle(t, f.store, "splitpruned", "b")
	}
	if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "splitpruned", Tag: "live", Split: registry.Split{1: 70, 2: 30}, Exclusive: true, By: "tester"}); err != nil {
		t.Fatal(err)
	}
	p := &prune.Pruner{Store: f.store, Bundles: &fakeBundles{}}
	got := pruneFlow(t, p, "splitpruned", registry.PruneRequest{Keep: 1})
	if diff := cmp.Diff([]int{3}, deletedVersions(got)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"1: routed [live]", "2: routed [live]", "4: routed [default]"}, keptWhy(got)); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
}
