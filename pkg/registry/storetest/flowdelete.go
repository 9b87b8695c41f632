package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kitaru/deployments/pkg/registry"
)

// flowDeleteCases are the rules and races of deleting a whole flow.
var flowDeleteCases = []testCase{
	{"FlowDeleteRules", testFlowDeleteRules, false},
	{"FlowDeleteRacingDeploys", testFlowDeleteRacingDeploys, false},
	{"FlowDeleteRacingTagMoves", testFlowDeleteRacingTagMoves, true},
	{"FlowDeleteUnderFaults", testFlowDeleteUnderFaults, true},
	{"FlowDeletesAreLinearizable", testFlowDeletesAreLinearizable, false},
}

func deleteFlow(t *testing.T, f *fixture, flow string, force bool) registry.FlowDeletion {
	t.Helper()
	got, err := f.store.DeleteFlow(ctx, project, flow, force, "tester")
	if err != nil {
		t.Fatalf("delete flow %s (force=%v): %v", flow, force, err)
	}
	return got
}

func reasonOf(err error) string {
	var re *registry.Error
	if !errors.As(err, &re) {
		return ""
	}
	r, _ := re.Details[registry.DetailReason].(string)
	return r
}

func testFlowDeleteRules(t *testing.T, f *fixture) {
	t.Run("a flow with an exclusive tag besides default is refused, naming the tag, and keeps everything", func(t *testing.T) {
		deploy(t, f, "guarded", "", false)
		deploy(t, f, "guarded", "stable", true)
		deploy(t, f, "guarded", "canary", true)
		_, err := f.store.DeleteFlow(ctx, project, "guarded", false, "tester")
		wantCode(t, err, registry.CodeConflict, "canary, stable", "force=true")
		if r := reasonOf(err); r != registry.ReasonFlowHasRoutes {
			t.Errorf("reason %q, want %q", r, registry.ReasonFlowHasRoutes)
		}
		fs, err := f.store.GetFlow(ctx, project, "guarded")
		if err != nil || fs.DeploymentCount != 3 {
			t.Fatalf("after a refused delete: %+v, %v", fs, err)
		}
	})
	t.Run("force removes versions, routes and history and says what it removed", func(t *testing.T) {
		var before int64
		for _, tag := range []string{"default", "stable", "canary"} {
			if tg, err := f.store.GetTag(ctx, project, "guarded", tag); err == nil {
				before = max(before, tg.Revision)
			}
		}
		got := deleteFlow(t, f, "guarded", true)
		want := registry.FlowDeletion{Project: project, Flow: "guarded", Versions: []int{1, 2, 3}, Forced: true, NextVersion: 4,
			Tags: map[string][]int{"default": {1}, "stable": {2}, "canary": {3}}}
		if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(registry.FlowDeletion{}, "RouteRevision")); diff != "" {
			t.Fatalf("deletion (-want +got):\n%s", diff)
		}
		// A store with a flow-wide route clock answers a revision above
		// every tag's before the delete (docs/route-cache.md).
		if got.RouteRevision != 0 && got.RouteRevision <= before {
			t.Fatalf("route revision %d after the delete, want above %d, the tags' before it", got.RouteRevision, before)
		}
		_, err := f.store.GetFlow(ctx, project, "guarded")
		wantCode(t, err, registry.CodeNotFound, "has no deployments")
		_, err = f.store.GetDeployment(ctx, project, "guarded", 2)
		wantCode(t, err, registry.CodeNotFound)
		_, err = f.store.Resolve(ctx, project, "guarded", registry.Selector{Tag: "stable"})
		wantCode(t, err, registry.CodeNotFound)
		_, err = f.store.ListDeployments(ctx, project, "guarded", registry.PageRequest{})
		wantCode(t, err, registry.CodeNotFound)
		_, err = f.store.GetTag(ctx, project, "guarded", "default")
		wantCode(t, err, registry.CodeNotFound)
		flows, err := f.store.ListFlows(ctx, project, registry.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, fs := range flows.Items {
			if fs.Flow == "guarded" {
				t.Fatalf("ListFlows still lists the deleted flow: %+v", fs)
			}
		}
	})
	t.Run("a re-created flow continues after the old version numbers, with fresh routes and history", func(t *testing.T) {
		d := deploy(t, f, "guarded", "", false)
		if d.Version != 4 || d.Snapshot != "kitaru::guarded::v4" || !d.Tags["default"] {
			t.Fatalf("re-created: version %d snapshot %q tags %v", d.Version, d.Snapshot, d.Tags)
		}
		fs, err := f.store.GetFlow(ctx, project, "guarded")
		if err != nil || fs.DeploymentCount != 1 || fs.LatestVersion != 4 || len(fs.Tags) != 1 {
			t.Fatalf("re-created flow summary: %+v, %v", fs, err)
		}
		h, err := f.store.TagHistory(ctx, project, "guarded", "stable", registry.PageRequest{})
		if err == nil && len(h.Items) > 0 {
			t.Fatalf("the old flow's history survived: %+v", h.Items)
		}
		h, err = f.store.TagHistory(ctx, project, "guarded", "default", registry.PageRequest{})
		if err != nil || len(h.Items) != 1 || *h.Items[0].To != 4 {
			t.Fatalf("default's history after re-create: %+v, %v", h.Items, err)
		}
		// The new flow's tags and deletes work as on any flow.
		mustTag(t, f, "guarded", "stable", 4, true)
		deleteFlow(t, f, "guarded", true)
		if d := deploy(t, f, "guarded", "", false); d.Version != 5 {
			t.Fatalf("second re-create got version %d, want 5", d.Version)
		}
	})
	t.Run("a revision read before a delete never matches a tag of the re-created flow", func(t *testing.T) {
		deploy(t, f, "revised", "", false)
		deploy(t, f, "revised", "", false)
		old := map[string]int64{}
		for _, tag := range []string{"default", "stable"} {
			old[tag] = mustTag(t, f, "revised", tag, 1, true).Revision
		}
		deleted := deleteFlow(t, f, "revised", true)
		v := deploy(t, f, "revised", "", false).Version
		mustTag(t, f, "revised", "stable", v, true)
		// The delete's route revision is one no later revision goes under:
		// a caller presenting it reads the re-created routes.
		for _, tag := range []string{"default", "stable"} {
			if cur, err := f.store.GetTag(ctx, project, "revised", tag); err != nil || cur.Revision < deleted.RouteRevision {
				t.Errorf("%s of the re-created flow at revision %d (%v), under the delete's %d", tag, cur.Revision, err, deleted.RouteRevision)
			}
		}
		// Moves of the new flow's tags to the same version: only a stale
		// revision can refuse them.
		for tag, rev := range old {
			_, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "revised", Tag: tag, Version: v, Exclusive: true, IfRevision: &rev, By: "tester"})
			if registry.CodeOf(err) != registry.CodePreconditionFailed {
				cur, _ := f.store.GetTag(ctx, project, "revised", tag)
				t.Errorf("%s moved with revision %d read before the delete (now %d): %v; want precondition_failed", tag, rev, cur.Revision, err)
			}
		}
	})
	t.Run("default and shared tags do not block a delete", func(t *testing.T) {
		deploy(t, f, "plain", "", false)
		deploy(t, f, "plain", "beta", false)
		mustTag(t, f, "plain", "beta", 1, false)
		got := deleteFlow(t, f, "plain", false)
		if got.Forced || !slices.Equal(got.Versions, []int{1, 2}) || !slices.Equal(got.Tags["beta"], []int{1, 2}) {
			t.Fatalf("deletion: %+v", got)
		}
	})
	t.Run("a free exclusive tag does not block a delete", func(t *testing.T) {
		deploy(t, f, "freed", "", false)
		deploy(t, f, "freed", "stable", true)
		if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "freed", Tag: "stable", Version: 2, By: "tester"}); err != nil {
			t.Fatal(err)
		}
		if got := deleteFlow(t, f, "freed", false); !slices.Equal(got.Versions, []int{1, 2}) || len(got.Tags) != 1 {
			t.Fatalf("deletion: %+v", got)
		}
	})
	t.Run("executions of a deleted flow stay readable", func(t *testing.T) {
		deploy(t, f, "ran", "", false)
		deploy(t, f, "ran", "", false)
		e := createExec(t, f.store, runningExec(project, "ran", ""))
		deleteFlow(t, f, "ran", false)
		if got := getExec(t, f.store, project, e.ExecID); got.Flow != "ran" || got.Version != 2 {
			t.Fatalf("execution after flow delete: %+v", got)
		}
		list, err := f.store.ListExecutions(ctx, project, "ran", registry.PageRequest{})
		if err != nil || len(list.Items) != 1 || list.Items[0].ExecID != e.ExecID {
			t.Fatalf("execution list after flow delete: %+v, %v", list.Items, err)
		}
	})
	t.Run("an unknown flow is not found and a bad name is invalid", func(t *testing.T) {
		_, err := f.store.DeleteFlow(ctx, project, "never_deployed", false, "tester")
		wantCode(t, err, registry.CodeNotFound, "has no deployments")
		_, err = f.store.DeleteFlow(ctx, project, "bad::name", false, "tester")
		wantCode(t, err, registry.CodeInvalidArgument)
	})
	t.Run("the same flow name in another project is untouched", func(t *testing.T) {
		deploy(t, f, "twin", "", false)
		if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: "other", Flow: "twin", Entrypoint: "f.py:twin", Inputs: []byte(`{}`), Stack: "dev", By: "tester"}); err != nil {
			t.Fatal(err)
		}
		deleteFlow(t, f, "twin", false)
		if _, err := f.store.GetFlow(ctx, "other", "twin"); err != nil {
			t.Fatalf("the other project's flow: %v", err)
		}
	})
}

// testFlowDeleteRacingDeploys races deploys of a flow against its delete.
// Whatever the interleaving, the outcome is one of a serial order: every
// deploy either committed before the delete (its version is among those
// removed, below NextVersion), after it (its version survives, at or above
// NextVersion), or was refused as racing the delete (flow_being_deleted);
// no number is given twice, and the surviving flow is consistent.
func testFlowDeleteRacingDeploys(t *testing.T, f *fixture) {
	const deployers, each = 4, 5
	deploy(t, f, "contested", "", false)
	var (
		mu       sync.Mutex
		deployed []int
		refused  int
		wg       sync.WaitGroup
		del      registry.FlowDeletion
		delErr   error
	)
	start := make(chan struct{})
	for range deployers {
		wg.Go(func() {
			<-start
			for range each {
				d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "contested", Entrypoint: "f.py:contested",
					Inputs: []byte(`{}`), Tag: "stable", Exclusive: true, Stack: "dev", By: "racer"})
				mu.Lock()
				switch {
				case err == nil:
					deployed = append(deployed, d.Version)
				case reasonOf(err) == registry.ReasonFlowBeingDeleted:
					refused++
				default:
					t.Errorf("deploy racing a delete: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Go(func() {
		<-start
		// Let some deploys commit first, so that some land before the delete.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			mu.Lock()
			n := len(deployed)
			mu.Unlock()
			if n >= deployers {
				break
			}
		}
		del, delErr = f.store.DeleteFlow(ctx, project, "contested", true, "racer")
	})
	close(start)
	wg.Wait()
	if delErr != nil {
		t.Fatalf("delete racing deploys: %v", delErr)
	}
	var before, after []int
	for _, v := range deployed {
		if v < del.NextVersion {
			before = append(before, v)
		} else {
			after = append(after, v)
		}
	}
	slices.Sort(before)
	slices.Sort(after)
	t.Logf("%d deploys before the delete, %d after, %d refused; deletion %+v", len(before), len(after), refused, del)
	if len(slices.Compact(slices.Clone(deployed))) != len(deployed) {
		t.Fatalf("a version number was given twice: %v", deployed)
	}
	for _, v := range before {
		if !slices.Contains(del.Versions, v) {
			t.Errorf("version %d committed before the delete but is not among those removed %v", v, del.Versions)
		}
		if _, err := f.store.GetDeployment(ctx, project, "contested", v); registry.CodeOf(err) != registry.CodeNotFound {
			t.Errorf("version %d committed before the delete still reads: %v", v, err)
		}
	}
	fs, err := f.store.GetFlow(ctx, project, "contested")
	if len(after) == 0 {
		wantCode(t, err, registry.CodeNotFound)
		return
	}
	if err != nil || fs.DeploymentCount != len(after) || fs.LatestVersion != after[len(after)-1] {
		t.Fatalf("flow after the race: %+v, %v; want the %d versions %v", fs, err, len(after), after)
	}
	page, err := f.store.ListDeployments(ctx, project, "contested", registry.PageRequest{Limit: 100})
	if err != nil || len(page.Items) != len(after) {
		t.Fatalf("deployments after the race: %d, %v; want %v", len(page.Items), err, after)
	}
	if def, err := resolveTag(t, f, "contested", "default"); err != nil || !slices.Contains(after, def) {
		t.Fatalf("default after the race routes to %d (%v); want one of %v", def, err, after)
	}
}

// testFlowDeleteRacingTagMoves races a delete without force against a move
// of an exclusive tag (not default) onto the flow: either the move commits
// first and the delete is refused naming the tag, or the delete commits
// first and the move fails. Both succeeding would mean the delete removed a
// route it was not allowed to.
func testFlowDeleteRacingTagMoves(t *testing.T, f *fixture) {
	const rounds = 8
	outcomes := map[string]int{}
	for i := range rounds {
		flow := "moved_" + string(rune('a'+i))
		deploy(t, f, flow, "", false)
		deploy(t, f, flow, "", false)
		var (
			wg              sync.WaitGroup
			moveErr, delErr error
		)
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			_, moveErr = putTag(f, flow, "stable", 1, true)
		})
		wg.Go(func() {
			<-start
			_, delErr = f.store.DeleteFlow(ctx, project, flow, false, "racer")
		})
		close(start)
		wg.Wait()
		switch {
		case moveErr == nil && delErr == nil:
			t.Fatalf("%s: the move and a delete without force both succeeded", flow)
		case moveErr == nil:
			if reasonOf(delErr) != registry.ReasonFlowHasRoutes {
				t.Fatalf("%s: the move won; the delete failed with %v, want reason %s", flow, delErr, registry.ReasonFlowHasRoutes)
			}
			outcomes["move first"]++
		case delErr == nil:
			if c := registry.CodeOf(moveErr); c != registry.CodeNotFound && c != registry.CodeConflict {
				t.Fatalf("%s: the delete won; the move failed with %v, want not_found or conflict", flow, moveErr)
			}
			outcomes["delete first"]++
		default:
			t.Fatalf("%s: both failed: move %v, delete %v", flow, moveErr, delErr)
		}
	}
	t.Logf("outcomes over %d rounds: %v", rounds, outcomes)
}

// testFlowDeleteUnderFaults: with the engine failing and losing answers, a
// delete still ends with the flow gone and its numbers kept (a lost answer
// may burn numbers, so only "after the old ones" is checked).
func testFlowDeleteUnderFaults(t *testing.T, f *fixture) {
	deploy(t, f, "faulty", "", false)
	last := deploy(t, f, "faulty", "stable", true).Version
	if _, err := f.store.DeleteFlow(ctx, project, "faulty", true, "tester"); err != nil {
		t.Fatalf("delete under faults: %v", err)
	}
	_, err := f.store.GetFlow(ctx, project, "faulty")
	wantCode(t, err, registry.CodeNotFound)
	if d := deploy(t, f, "faulty", "", false); d.Version <= last || !d.Tags["default"] {
		t.Fatalf("re-created under faults: v%d %v, want above v%d with default", d.Version, d.Tags, last)
	}
}
