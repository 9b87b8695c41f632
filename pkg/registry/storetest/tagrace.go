package storetest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

// concurrently runs every fn at once and returns their results in order.
func concurrently(fns ...func() (registry.Tag, error)) ([]registry.Tag, []error) {
	tags, errs := make([]registry.Tag, len(fns)), make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { tags[i], errs[i] = fn() })
	}
	wg.Wait()
	return tags, errs
}

func moveIf(f *fixture, flow, tag string, version int, rev int64) func() (registry.Tag, error) {
	return func() (registry.Tag, error) {
		return f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: version, Exclusive: true, IfRevision: &rev, By: "racer"})
	}
}

func rollback(f *fixture, flow, tag string) func() (registry.Tag, error) {
	return func() (registry.Tag, error) { return f.store.RollbackTag(ctx, project, flow, tag, "racer") }
}

func move(f *fixture, flow, tag string, version int) func() (registry.Tag, error) {
	return func() (registry.Tag, error) { return putTag(f, flow, tag, version, true) }
}

func testIfMatchLetsOneWriterPerRevision(t *testing.T, f *fixture) {
	for range 3 {
		deploy(t, f, "ifm", "", false)
	}
	for round := range 10 {
		tag := fmt.Sprintf("t%d", round)
		rev := mustTag(t, f, "ifm", tag, 1, true).Revision
		tags, errs := concurrently(moveIf(f, "ifm", tag, 2, rev), moveIf(f, "ifm", tag, 3, rev))
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
				if tags[i].Revision != rev+1 || tags[i].Versions[0] != 2+i {
					t.Fatalf("round %d: the winner reported %+v, want v%d at revision %d", round, tags[i], 2+i, rev+1)
				}
			case !errors.Is(err, registry.ErrPreconditionFailed):
				t.Fatalf("round %d: the loser got %v, want precondition_failed", round, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d of two writers with If-Match %d succeeded, want exactly one (%+v)", round, won, rev, tags)
		}
	}
}

func testRollbackAppliesToTheStateItRead(t *testing.T, f *fixture) {
	for range 3 {
		deploy(t, f, "rbr", "", false)
	}
	t.Run("a rollback racing a move either goes first or is refused", func(t *testing.T) {
		for round := range 10 {
			tag := fmt.Sprintf("m%d", round)
			mustTag(t, f, "rbr", tag, 1, true)
			mustTag(t, f, "rbr", tag, 2, true)
			_, errs := concurrently(move(f, "rbr", tag, 3), rollback(f, "rbr", tag))
			for _, err := range errs {
				if err != nil && !errors.Is(err, registry.ErrConflict) {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			v, err := resolveTag(t, f, "rbr", tag)
			if err != nil {
				t.Fatal(err)
			}
			// Both applied: rollback first (2→1, then the move 1→3) ends on v3;
			// move first (2→3, then the rollback 3→2) ends on v2. Never on v1.
			if errs[0] == nil && v == 1 {
				t.Fatalf("round %d: the move to v3 answered ok and nothing refused it later, but the tag is on v1 (rollback: %v)", round, errs[1])
			}
			checkChain(t, f, "rbr", tag, v)
		}
	})
	t.Run("of two concurrent rollbacks one applies and the other is refused", func(t *testing.T) {
		for round := range 10 {
			tag := fmt.Sprintf("r%d", round)
			mustTag(t, f, "rbr", tag, 1, true)
			mustTag(t, f, "rbr", tag, 2, true)
			_, errs := concurrently(rollback(f, "rbr", tag), rollback(f, "rbr", tag))
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, registry.ErrConflict):
					wantCode(t, err, registry.CodeConflict, "history")
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			// One applies; or both, one after the other (2→1, then 1→2), when
			// the second read the history after the first committed.
			v, _ := resolveTag(t, f, "rbr", tag)
			if want := map[int]int{1: 1, 2: 2}[ok]; ok == 0 || v != want {
				t.Fatalf("round %d: %d of two rollbacks applied and the tag is on v%d (%v)", round, ok, v, errs)
			}
			checkChain(t, f, "rbr", tag, v)
		}
	})
}

// checkChain requires the tag's history to be a chain (each record moves from
// where the one before it left the tag, never from a version to itself) ending
// where the tag is.
func checkChain(t *testing.T, f *fixture, flow, tag string, current int) {
	t.Helper()
	h, err := f.store.TagHistory(ctx, project, flow, tag, registry.PageRequest{Limit: registry.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	if *h.Items[0].To != current {
		t.Fatalf("tag %s is on v%d but its newest record moved it to v%d", tag, current, *h.Items[0].To)
	}
	for i, c := range h.Items {
		if c.From != nil && c.To != nil && *c.From == *c.To {
			t.Fatalf("tag %s: record %d %s moved v%d to itself", tag, i, c.Action, *c.To)
		}
	}
}

func testTagResponsesReportWhatWasCommitted(t *testing.T, f *fixture) {
	const movers = 6
	for range movers {
		deploy(t, f, "report", "", false)
	}
	for round := range 5 {
		tag := fmt.Sprintf("t%d", round)
		mustTag(t, f, "report", tag, 1, true)
		var fns []func() (registry.Tag, error)
		for i := range movers - 1 {
			fns = append(fns, move(f, "report", tag, 2+i))
		}
		tags, errs := concurrently(fns...)
		var revs []int64
		for i, err := range errs {
			switch {
			case err == nil:
				if !cmp.Equal(tags[i].Versions, []int{2 + i}) {
					t.Fatalf("round %d: a move to v%d answered ok showing %+v", round, 2+i, tags[i])
				}
				revs = append(revs, tags[i].Revision)
			case errors.Is(err, registry.ErrConflict):
				wantCode(t, err, registry.CodeConflict, "later")
			default:
				t.Fatal(err)
			}
		}
		slices.Sort(revs)
		if len(slices.Compact(slices.Clone(revs))) != len(revs) {
			t.Fatalf("round %d: applied moves reported revisions %v; each applied change has its own", round, revs)
		}
		h, err := f.store.TagHistory(ctx, project, "report", tag, registry.PageRequest{Limit: registry.MaxPageSize})
		if err != nil || len(h.Items) != 1+len(revs) {
			t.Fatalf("round %d: %d history records for %d applied moves (%v)", round, len(h.Items), 1+len(revs), err)
		}
		v, _ := resolveTag(t, f, "report", tag)
		checkChain(t, f, "report", tag, v)
	}
}

// flowState renders what the engine keeps about a flow (Engine.FlowState),
// or else what the store's reads show of it: the summary, every version with
// its tags, and each tag's revision and newest history records.
func flowState(t *testing.T, f *fixture, flow string) string {
	t.Helper()
	if f.engine.FlowState != nil {
		return f.engine.FlowState(t, f.store, project, flow)
	}
	fs, err := f.store.GetFlow(ctx, project, flow)
	if err != nil {
		t.Fatal(err)
	}
	deps, err := f.store.ListDeployments(ctx, project, flow, registry.PageRequest{Limit: registry.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	state := fmt.Sprintf("%+v\n%+v\n", fs, deps.Items)
	for _, tag := range slices.Sorted(maps.Keys(fs.Tags)) {
		tg, err := f.store.GetTag(ctx, project, flow, tag)
		if err != nil {
			t.Fatal(err)
		}
		h, err := f.store.TagHistory(ctx, project, flow, tag, registry.PageRequest{Limit: registry.MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		state += fmt.Sprintf("%+v %+v\n", tg, h.Items)
	}
	return state
}

// withoutCounters drops the allocation counters a change refused at commit
// may have advanced (Engine.Counters).
func withoutCounters(f *fixture, state string) string {
	if f.engine.Counters == nil {
		return state
	}
	return f.engine.Counters.ReplaceAllString(state, "")
}

func testRefusedTagChangesCommitNothing(t *testing.T, f *fixture) {
	for range 3 {
		deploy(t, f, "refused", "", false)
	}
	mustTag(t, f, "refused", "stable", 2, true)
	mustTag(t, f, "refused", "prod", 1, true)
	mustTag(t, f, "refused", "prod", 2, true)
	mustTag(t, f, "refused", "bench", 2, false)
	mustTag(t, f, "refused", "bench", 3, false)
	mustTag(t, f, "refused", "default", 2, true)
	if err := f.store.DeleteDeployment(ctx, project, "refused", 1, "tester"); err != nil {
		t.Fatal(err)
	}
	stale := int64(0)
	tests := []struct {
		name       string
		code       registry.Code
		op         func() error
		burnsClock bool
	}{
		{"a move to a version never deployed", registry.CodeNotFound, func() error { _, err := putTag(f, "refused", "stable", 99999999, true); return err }, false},
		{"a move to a deleted version", registry.CodeNotFound, func() error { _, err := putTag(f, "refused", "stable", 1, true); return err }, true},
		{"a move with a stale If-Match", registry.CodePreconditionFailed, func() error { _, err := moveIf(f, "refused", "stable", 3, stale)(); return err }, false},
		{"a shared add of an exclusive tag", registry.CodeConflict, func() error { _, err := putTag(f, "refused", "stable", 3, false); return err }, false},
		// An exclusive route is its newest move, which a tick's condition
		// cannot find: these two are decided after the tick.
		{"a move to where the tag already is", "", func() error { _, err := putTag(f, "refused", "stable", 2, true); return err }, true},
		{"removing a tag the version does not hold", registry.CodeNotFound, func() error {
			return f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "refused", Tag: "stable", Version: 3})
		}, true},
		{"a rollback to a deleted version", registry.CodeConflict, func() error { _, err := rollback(f, "refused", "prod")(); return err }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name+" writes nothing", func(t *testing.T) {
			before := flowState(t, f, "refused")
			err := tt.op()
			if tt.code == "" && err != nil {
				t.Fatal(err)
			} else if tt.code != "" {
				wantCode(t, err, tt.code)
			}
			if tt.burnsClock {
				// Refused only by its transaction: it has allocated one route
				// clock value (like a version number a failed deploy burns);
				// no route, revision, history or updated_at changed.
				before, after := withoutCounters(f, before), withoutCounters(f, flowState(t, f, "refused"))
				if after != before {
					t.Fatalf("the flow changed:\nbefore %s\nafter  %s", before, after)
				}
				return
			}
			if after := flowState(t, f, "refused"); after != before {
				t.Fatalf("the flow changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// TestDeletesCompleteUnderMixedLoad deletes versions while deploys and tag
// moves keep the flow busy: every delete must finish, none may give up as
// contended.
func testDeletesCompleteUnderMixedLoad(t *testing.T, f *fixture) {
	const deletes = 16
	for range deletes + 2 {
		deploy(t, f, "mixed", "bench", false)
	}
	mustTag(t, f, "mixed", "default", 1, true)
	var stop atomic.Bool
	var load sync.WaitGroup
	for i := range 4 {
		load.Go(func() {
			for n := 0; !stop.Load(); n++ {
				var err error
				if i%2 == 0 {
					_, err = f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "mixed", Entrypoint: "f.py:mixed", Tag: "canary", Exclusive: true, Stack: "dev"})
				} else {
					_, err = putTag(f, "mixed", fmt.Sprintf("s%d", i), 1+n%2, true)
				}
				if err != nil && !errors.Is(err, registry.ErrConflict) {
					t.Errorf("load: %v", err)
					return
				}
			}
		})
	}
	var wg sync.WaitGroup
	errs := make([]error, deletes)
	for i := range deletes {
		wg.Go(func() { errs[i] = f.store.DeleteDeployment(ctx, project, "mixed", 3+i, "tester") })
	}
	wg.Wait()
	stop.Store(true)
	load.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("delete of v%d under load: %v", 3+i, err)
		}
	}
}
