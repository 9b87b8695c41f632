package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// tagCycles is how many tags testTagCycles creates and frees (unless the
// engine sets Engine.TagCycles): a tag per commit for a long while.
const tagCycles = 5000

// testTagCycles creates and frees tagCycles tags of distinct names on one
// flow (exclusive and shared in turn), re-creating one name every 500
// cycles: the flow ends with only default, every re-created revision is
// above every revision that name had, an If-Match holding an old one is
// refused, and on engines that report it the flow's head stays as small as
// it started (docs/data-model.md, "How many tags a flow holds").
func testTagCycles(t *testing.T, f *fixture) {
	const flow = "cycles"
	cycles := tagCycles
	if f.engine.TagCycles > 0 {
		cycles = f.engine.TagCycles
	}
	deploy(t, f, flow, "", false)
	deploy(t, f, flow, "", false)
	var before int
	if f.engine.HeadSize != nil {
		before = f.engine.HeadSize(t, f.store, project, flow)
	}
	var highest int64 // of "again"
	var oldRev int64
	start := time.Now()
	for i := range cycles {
		if i > 0 && i%1000 == 0 {
			// Progress, to see whether cycles slow down as the table fills.
			t.Logf("%d cycles after %s", i, time.Since(start).Round(time.Millisecond))
		}
		name, exclusive, version := fmt.Sprintf("commit-%05d", i), i%2 == 0, 1+i%2
		if i%500 == 0 {
			name = "again"
		}
		tg := mustTag(t, f, flow, name, version, exclusive)
		if name == "again" {
			if tg.Revision <= highest {
				t.Fatalf("cycle %d: re-created tag %q has revision %d, not above its earlier %d", i, name, tg.Revision, highest)
			}
			if highest == 0 {
				oldRev = tg.Revision
			}
			highest = tg.Revision
		}
		if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: name, Version: version, By: "tester"}); err != nil {
			t.Fatalf("cycle %d: untag %s: %v", i, name, err)
		}
	}
	t.Logf("%d cycles took %s", cycles, time.Since(start).Round(time.Millisecond))
	t.Run("only default is left, on the latest version", func(t *testing.T) {
		s, err := f.store.GetFlow(ctx, project, flow)
		if err != nil || len(s.Tags) != 1 || len(s.Tags[registry.DefaultTag]) != 1 || s.Tags[registry.DefaultTag][0] != 2 {
			t.Fatalf("summary tags %v, %v; want only default on 2", s.Tags, err)
		}
	})
	t.Run("an If-Match holding a revision of an earlier life of the tag is refused", func(t *testing.T) {
		mustTag(t, f, flow, "again", 1, true)
		_, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "again", Version: 2, Exclusive: true, IfRevision: &oldRev, By: "tester"})
		wantCode(t, err, registry.CodePreconditionFailed)
	})
	t.Run("rolling back the untag of an exclusive tag routes it where it was", func(t *testing.T) {
		mustTag(t, f, flow, "undo", 1, true)
		if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "undo", Version: 1, By: "tester"}); err != nil {
			t.Fatal(err)
		}
		tg, err := f.store.RollbackTag(ctx, project, flow, "undo", "tester")
		if err != nil || len(tg.Versions) != 1 || tg.Versions[0] != 1 {
			t.Fatalf("rollback of the untag: %+v, %v; want the tag on 1 again", tg, err)
		}
	})
	t.Run("a freed tag's history is kept", func(t *testing.T) {
		h, err := f.store.TagHistory(ctx, project, flow, fmt.Sprintf("commit-%05d", cycles-1), registry.PageRequest{})
		if err != nil || len(h.Items) != 2 || h.Items[0].Action != registry.ActionRemove {
			t.Fatalf("history %+v, %v; want the add and the removal", h.Items, err)
		}
	})
	if f.engine.HeadSize != nil {
		t.Run("the head is no bigger than before the cycles", func(t *testing.T) {
			after := f.engine.HeadSize(t, f.store, project, flow)
			t.Logf("flow head: %d bytes before %d tag cycles, %d after", before, cycles, after)
			// "again" is routed again now; allow it and a few counters.
			if after > before+200 {
				t.Errorf("head grew from %d to %d bytes over %d tag cycles", before, after, cycles)
			}
		})
	}
}
