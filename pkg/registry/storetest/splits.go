package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// This file holds the rules and races of split routes (docs/splits.md).

func putSplit(f *fixture, flow, tag string, split registry.Split) (registry.Tag, error) {
	return f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: tag, Split: split, Exclusive: true, By: "tester"})
}

func mustSplit(t *testing.T, f *fixture, flow, tag string, split registry.Split) registry.Tag {
	t.Helper()
	tg, err := putSplit(f, flow, tag, split)
	if err != nil {
		t.Fatalf("split %s %s -> %v: %v", flow, tag, split, err)
	}
	if !tg.Split.Equal(split) || !slices.Equal(tg.Versions, split.Versions()) || !tg.Exclusive {
		t.Fatalf("split %s %s -> %v answered %+v", flow, tag, split, tg)
	}
	return tg
}

func lastChange(t *testing.T, f *fixture, flow, tag string) registry.RouteChange {
	t.Helper()
	h, err := f.store.TagHistory(ctx, project, flow, tag, registry.PageRequest{Limit: 1})
	if err != nil || len(h.Items) == 0 {
		t.Fatalf("history of %s %s: %+v %v", flow, tag, h.Items, err)
	}
	return h.Items[0]
}

func testSplitRules(t *testing.T, f *fixture) {
	for range 4 {
		deploy(t, f, "sp", "", false) // v1..v4, default on v4
	}
	split := registry.Split{2: 90, 3: 10}
	t.Run("invalid splits are refused before anything is written", func(t *testing.T) {
		for _, s := range []registry.Split{{2: 100}, {2: 50, 3: 40}, {2: 0, 3: 100}, {2: 90, 3: 10, 4: 0}, {-1: 50, 3: 50}} {
			_, err := putSplit(f, "sp", "live", s)
			wantCode(t, err, registry.CodeInvalidArgument)
		}
		_, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "sp", Tag: "live", Version: 2, Split: split, Exclusive: true})
		wantCode(t, err, registry.CodeInvalidArgument, "either version or split")
		_, err = f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "sp", Tag: "live", Split: split, Exclusive: false})
		wantCode(t, err, registry.CodeInvalidArgument, "exclusive")
	})
	t.Run("a split to a version never allocated or deleted is not_found", func(t *testing.T) {
		_, err := putSplit(f, "sp", "live", registry.Split{2: 50, 99: 50})
		wantCode(t, err, registry.CodeNotFound, "99")
	})
	t.Run("a split is one change: the tag shows its weights and members", func(t *testing.T) {
		tg := mustSplit(t, f, "sp", "live", split)
		got, err := f.store.GetTag(ctx, project, "sp", "live")
		if err != nil || !got.Split.Equal(split) || got.Revision != tg.Revision {
			t.Fatalf("get tag = %+v, %v; want %+v", got, err, tg)
		}
		if tags := tagsOf(t, f, "sp", 3); !tags["live"] {
			t.Fatalf("v3 tags = %v, want live (exclusive)", tags)
		}
		fs, err := f.store.GetFlow(ctx, project, "sp")
		if err != nil || !slices.Equal(fs.Tags["live"], []int{2, 3}) || !slices.Contains(fs.ExclusiveTags, "live") {
			t.Fatalf("summary = %+v, %v", fs, err)
		}
		c := lastChange(t, f, "sp", "live")
		if c.Action != registry.ActionMove || !c.ToSplit.Equal(split) || c.To != nil || c.From != nil {
			t.Fatalf("history = %+v, want a move to the split", c)
		}
	})
	t.Run("setting the same split again changes nothing", func(t *testing.T) {
		before, _ := f.store.GetTag(ctx, project, "sp", "live")
		tg := mustSplit(t, f, "sp", "live", split)
		if tg.Revision != before.Revision {
			t.Fatalf("revision %d -> %d on a no-op", before.Revision, tg.Revision)
		}
	})
	t.Run("If-Match applies to splits like to moves", func(t *testing.T) {
		cur, err := f.store.GetTag(ctx, project, "sp", "live")
		if err != nil {
			t.Fatal(err)
		}
		stale := cur.Revision + 1
		_, err = f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "sp", Tag: "live", Split: registry.Split{2: 80, 3: 20}, Exclusive: true, IfRevision: &stale})
		wantCode(t, err, registry.CodePreconditionFailed)
	})
	t.Run("resolving a split picks members only, and a sticky key always the same one", func(t *testing.T) {
		seen := map[int]int{}
		for range 200 {
			r, err := f.store.Resolve(ctx, project, "sp", registry.Selector{Tag: "live"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Route == nil || !r.Route.Split.Equal(split) {
				t.Fatalf("resolution route = %+v, want the split", r.Route)
			}
			seen[r.Deployment.Version]++
		}
		if len(seen) != 2 || seen[2] < seen[3] {
			t.Fatalf("picks = %v, want both members, mostly v2", seen)
		}
		for _, key := range []string{"user-1", "user-2", "user-3"} {
			want := split.Pick(registry.StickyBucket("sp", "live", key))
			for range 20 {
				r, err := f.store.Resolve(ctx, project, "sp", registry.Selector{Tag: "live", StickyKey: key})
				if err != nil || r.Deployment.Version != want {
					t.Fatalf("sticky %s picked v%d (%v), want v%d", key, r.Deployment.Version, err, want)
				}
			}
		}
	})
	t.Run("a member of a split cannot be deleted, nor taken off alone", func(t *testing.T) {
		err := f.store.DeleteDeployment(ctx, project, "sp", 3, "tester")
		wantCode(t, err, registry.CodeConflict, "live")
		err = f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "sp", Tag: "live", Version: 3, Exclusive: true})
		wantCode(t, err, registry.CodeConflict, "split")
		if _, err := f.store.GetDeployment(ctx, project, "sp", 3); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a flow with a split tag is not deleted without force", func(t *testing.T) {
		_, err := f.store.DeleteFlow(ctx, project, "sp", false, "tester")
		wantCode(t, err, registry.CodeConflict, "live")
	})
	t.Run("reweighting keeps the members and records both splits", func(t *testing.T) {
		next := registry.Split{2: 80, 3: 20}
		mustSplit(t, f, "sp", "live", next)
		c := lastChange(t, f, "sp", "live")
		if !c.FromSplit.Equal(split) || !c.ToSplit.Equal(next) {
			t.Fatalf("history = %+v, want %v -> %v", c, split, next)
		}
		split = next
	})
	t.Run("a plain move collapses the split; rollback restores it", func(t *testing.T) {
		tg := mustTag(t, f, "sp", "live", 4, true)
		if tg.Split != nil || !slices.Equal(tg.Versions, []int{4}) {
			t.Fatalf("move = %+v, want on v4 alone", tg)
		}
		c := lastChange(t, f, "sp", "live")
		if !c.FromSplit.Equal(split) || c.To == nil || *c.To != 4 {
			t.Fatalf("history = %+v, want split -> 4", c)
		}
		if err := f.store.DeleteDeployment(ctx, project, "sp", 3, "tester"); err != nil {
			t.Fatalf("v3 left the route with the split: delete = %v", err)
		}
		_, err := f.store.RollbackTag(ctx, project, "sp", "live", "tester")
		wantCode(t, err, registry.CodeConflict, "deleted")
		mustSplit(t, f, "sp", "live", registry.Split{2: 60, 4: 40})
		mustTag(t, f, "sp", "live", 1, true)
		rb, err := f.store.RollbackTag(ctx, project, "sp", "live", "tester")
		if err != nil || !rb.Split.Equal(registry.Split{2: 60, 4: 40}) {
			t.Fatalf("rollback = %+v, %v; want the split back", rb, err)
		}
		c = lastChange(t, f, "sp", "live")
		if c.Action != registry.ActionRollback || c.From == nil || *c.From != 1 || !c.ToSplit.Equal(registry.Split{2: 60, 4: 40}) {
			t.Fatalf("history = %+v, want a rollback 1 -> split", c)
		}
		rb, err = f.store.RollbackTag(ctx, project, "sp", "live", "tester")
		if err != nil || rb.Split != nil || !slices.Equal(rb.Versions, []int{1}) {
			t.Fatalf("second rollback = %+v, %v; want back on v1", rb, err)
		}
	})
	t.Run("default may be split, and a deploy routed to it collapses the split", func(t *testing.T) {
		mustSplit(t, f, "sp", "default", registry.Split{2: 40, 4: 60})
		if v, err := resolveTag(t, f, "sp", "default"); err != nil || (v != 2 && v != 4) {
			t.Fatalf("resolve default = v%d, %v", v, err)
		}
		// The summary reports a split default as its heaviest version, and the weights of split tags only.
		fs, err := f.store.GetFlow(ctx, project, "sp")
		if err != nil || fs.DefaultVersion == nil || *fs.DefaultVersion != 4 || !fs.Splits["default"].Equal(registry.Split{2: 40, 4: 60}) || len(fs.Splits) != 1 {
			t.Fatalf("summary = %+v (default %v), %v; want default on 4 and its split only (live is on v1)", fs, fs.DefaultVersion, err)
		}
		page, err := f.store.ListFlows(ctx, project, registry.PageRequest{})
		if err != nil || len(page.Items) != 1 || *page.Items[0].DefaultVersion != 4 || !page.Items[0].Splits["default"].Equal(registry.Split{2: 40, 4: 60}) {
			t.Fatalf("list = %+v, %v; want default 4 and the split", page.Items, err)
		}
		mustSplit(t, f, "sp", "default", registry.Split{2: 50, 4: 50})
		d := deploy(t, f, "sp", "", false)
		tg, err := f.store.GetTag(ctx, project, "sp", "default")
		if err != nil || tg.Split != nil || !slices.Equal(tg.Versions, []int{d.Version}) {
			t.Fatalf("default after a deploy = %+v, %v; want on v%d alone", tg, err, d.Version)
		}
		c := lastChange(t, f, "sp", "default")
		if c.Action != registry.ActionDeploy || !c.FromSplit.Equal(registry.Split{2: 50, 4: 50}) || *c.To != d.Version {
			t.Fatalf("history = %+v, want the deploy from the split", c)
		}
		rb, err := f.store.RollbackTag(ctx, project, "sp", "default", "tester")
		if err != nil || !rb.Split.Equal(registry.Split{2: 50, 4: 50}) {
			t.Fatalf("rollback of the deploy = %+v, %v; want the split back", rb, err)
		}
	})
	t.Run("a split of a shared tag is a mode clash", func(t *testing.T) {
		mustTag(t, f, "sp", "bench", 2, false)
		_, err := putSplit(f, "sp", "bench", registry.Split{2: 50, 4: 50})
		wantCode(t, err, registry.CodeConflict, "shared")
	})
}

// testSplitPicksAreMembersOfTheSplitRead: writers keep changing a tag
// between splits and single versions while readers resolve it; every pick
// must be a member of the route committed at the revision the resolve
// read, and that route must be exactly what the change at that revision
// committed.
func testSplitPicksAreMembersOfTheSplitRead(t *testing.T, f *fixture) {
	for range 5 {
		deploy(t, f, "picks", "", false)
	}
	first := mustSplit(t, f, "picks", "live", registry.Split{1: 50, 2: 50})
	var mu sync.Mutex
	committed := map[int64]registry.Tag{first.Revision: first}
	targets := []registry.Split{{1: 90, 2: 10}, {3: 34, 4: 33, 5: 33}, {2: 1, 5: 99}, nil, {1: 10, 4: 90}}
	var done atomic.Bool
	type read struct {
		version int
		route   registry.Tag
	}
	reads := make([][]read, 4)
	var readers sync.WaitGroup
	for r := range reads {
		readers.Go(func() {
			for i := 0; !done.Load(); i++ {
				sel := registry.Selector{Tag: "live"}
				if i%2 == 0 {
					sel.StickyKey = fmt.Sprintf("user-%d", i)
				}
				res, err := f.store.Resolve(ctx, project, "picks", sel)
				if err != nil {
					t.Errorf("resolve during changes: %v", err)
					return
				}
				reads[r] = append(reads[r], read{res.Deployment.Version, *res.Route})
			}
		})
	}
	var writers sync.WaitGroup
	for w := range 4 {
		writers.Go(func() {
			for j := range 6 {
				var tg registry.Tag
				var err error
				if s := targets[(w+j)%len(targets)]; s != nil {
					tg, err = putSplit(f, "picks", "live", s)
				} else {
					tg, err = putTag(f, "picks", "live", 1+(w+j)%5, true)
				}
				switch {
				case errors.Is(err, registry.ErrConflict):
				case err != nil:
					t.Errorf("change: %v", err)
				default:
					mu.Lock()
					committed[tg.Revision] = tg
					mu.Unlock()
				}
			}
		})
	}
	writers.Wait()
	done.Store(true)
	readers.Wait()
	n := 0
	for _, rs := range reads {
		for _, r := range rs {
			n++
			want, ok := committed[r.route.Revision]
			if !ok {
				t.Fatalf("a resolve read revision %d (%+v), which no change committed", r.route.Revision, r.route)
			}
			if !want.Split.Equal(r.route.Split) || !slices.Equal(want.Versions, r.route.Versions) {
				t.Fatalf("a resolve read revision %d as %+v, but the change at that revision committed %+v", r.route.Revision, r.route, want)
			}
			if !slices.Contains(want.Versions, r.version) {
				t.Fatalf("a resolve of revision %d picked v%d, not a member of %+v", r.route.Revision, r.version, want)
			}
		}
	}
	if n == 0 {
		t.Fatal("readers never completed a resolve")
	}
	t.Logf("%d resolves checked against %d committed changes", n, len(committed))
}

// testExecutionsKeepTheirRouteRevision: the route revision an invoke picked
// its version from reads back from the record and from the flow's list.
func testExecutionsKeepTheirRouteRevision(t *testing.T, f *fixture) {
	e := runningExec(project, "picked", "")
	e.RouteRevision = 7
	createExec(t, f.store, e)
	got, err := f.store.GetExecution(ctx, project, e.ExecID)
	if err != nil || got.RouteRevision != 7 {
		t.Fatalf("get = route revision %d, %v; want 7", got.RouteRevision, err)
	}
	list, err := f.store.ListExecutions(ctx, project, "picked", registry.PageRequest{})
	if err != nil || len(list.Items) != 1 || list.Items[0].RouteRevision != 7 {
		t.Fatalf("list = %+v, %v; want route revision 7", list.Items, err)
	}
	byVersion := runningExec(project, "picked", "")
	byVersion.Selector = registry.Selector{Version: 2}
	createExec(t, f.store, byVersion)
	if got, err := f.store.GetExecution(ctx, project, byVersion.ExecID); err != nil || got.RouteRevision != 0 {
		t.Fatalf("an invoke by version = route revision %d, %v; want none", got.RouteRevision, err)
	}
}
