package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/prune"
	"github.com/kitaru/deployments/pkg/registry"
)

// pruneCases are the rules and races of `flow prune` and the guard that
// keeps a deploy's bundle from being collected under it.
var pruneCases = []testCase{
	{"PruneRules", testPruneRules, false},
	{"PruneKeepsSplitMembers", testPruneKeepsSplitMembers, false},
	{"PruneCollectsBundlesNothingUses", testPruneCollectsBundles, false},
	{"PruneKeepsTheBundleOfAnExecutionStartedDuringTheDelete", testPruneLateStart, false},
	{"BundleGuard", testBundleGuard, false},
	{"PruneRacingTagChangesDeletesNoRoutedVersion", testPruneRacingTagChanges, false},
}

// fakeBundles stands in for the bucket (pkg/artifacts on S3): it records
// which bundles a prune deleted.
type fakeBundles struct {
	mu      sync.Mutex
	deleted []string
}

func (b *fakeBundles) DeleteBundle(_ context.Context, proj, digest string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleted = append(b.deleted, proj+"/"+digest)
	return nil
}

func (b *fakeBundles) taken() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	got := b.deleted
	b.deleted = nil
	return got
}

func digestOf(name string) string {
	return fmt.Sprintf("sha256:%064x", []byte(name))
}

func deployBundle(t *testing.T, s Store, flow, bundle string) registry.Deployment {
	t.Helper()
	d, err := s.Deploy(ctx, registry.DeployRequest{
		Project: project, Flow: flow, Entrypoint: "flows/main.py:" + flow, Inputs: json.RawMessage(`{}`),
		Source: &registry.Source{Digest: digestOf(bundle), Size: 100}, Stack: "dev", By: "tester",
	})
	if err != nil {
		t.Fatalf("deploy %s with bundle %s: %v", flow, bundle, err)
	}
	return d
}

func pruneFlow(t *testing.T, p *prune.Pruner, flow string, req registry.PruneRequest) registry.Pruning {
	t.Helper()
	got, err := p.Prune(ctx, project, flow, req, "tester")
	if err != nil {
		t.Fatalf("prune %s %+v: %v", flow, req, err)
	}
	return got
}

func deletedVersions(p registry.Pruning) []int {
	var vs []int
	for _, d := range p.Deleted {
		vs = append(vs, d.Version)
	}
	return vs
}

// keptWhy renders the kept versions as version: reason (detail).
func keptWhy(p registry.Pruning) []string {
	var out []string
	for _, k := range p.Kept {
		s := fmt.Sprintf("%d: %s", k.Version, k.Reason)
		if len(k.Tags) > 0 {
			s += fmt.Sprintf(" %v", k.Tags)
		}
		out = append(out, s)
	}
	return out
}

func testPruneRules(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := f.engine.Open(t, clock.Now)
	p := &prune.Pruner{Store: s, Bundles: &fakeBundles{}, Now: clock.Now}
	start := clock.Now()
	for i := 1; i <= 8; i++ {
		clock.Advance(time.Hour) // version i is created at start + i h
		deployBundle(t, s, "pruned", fmt.Sprintf("b%d", i))
	}
	if _, err := s.PutTag(ctx, registry.TagRequest{Project: project, Flow: "pruned", Tag: "pinned", Version: 2, By: "tester"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutTag(ctx, registry.TagRequest{Project: project, Flow: "pruned", Tag: "stable", Version: 3, Exclusive: true, By: "tester"}); err != nil {
		t.Fatal(err)
	}
	run := runningExec(project, "pruned", "")
	run.Version, run.Snapshot = 4, registry.SnapshotName("pruned", 4)
	createExec(t, s, run)
	clock.Advance(30 * time.Minute) // now start + 8.5 h: 3 h ago is between versions 5 and 6
	req := registry.PruneRequest{Keep: 2, OlderThan: 3 * time.Hour}
	wantKept := []string{"2: routed [pinned]", "3: routed [stable]", "4: running", "6: too_young", "7: newest", "8: routed [default]"}

	t.Run("a dry run plans without deleting anything", func(t *testing.T) {
		dry := req
		dry.DryRun = true
		got := pruneFlow(t, p, "pruned", dry)
		if diff := cmp.Diff([]int{1, 5}, deletedVersions(got)); diff != "" {
			t.Errorf("would delete (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantKept, keptWhy(got)); diff != "" {
			t.Errorf("would keep (-want +got):\n%s", diff)
		}
		if !got.DryRun || got.OlderThan != "3h0m0s" {
			t.Errorf("dry_run %v, older_than %q", got.DryRun, got.OlderThan)
		}
		if fs, err := s.GetFlow(ctx, project, "pruned"); err != nil || fs.DeploymentCount != 8 {
			t.Errorf("after a dry run: %d versions, %v; want all 8", fs.DeploymentCount, err)
		}
	})
	t.Run("a prune deletes what the dry run planned and says why the rest stayed", func(t *testing.T) {
		got := pruneFlow(t, p, "pruned", req)
		if diff := cmp.Diff([]int{1, 5}, deletedVersions(got)); diff != "" {
			t.Errorf("deleted (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantKept, keptWhy(got)); diff != "" {
			t.Errorf("kept (-want +got):\n%s", diff)
		}
		if got.Deleted[0].Digest != digestOf("b1") || !got.Deleted[0].CreatedAt.Equal(start.Add(time.Hour)) {
			t.Errorf("deleted[0] = %+v", got.Deleted[0])
		}
		for _, v := range []int{1, 5} {
			_, err := s.GetDeployment(ctx, project, "pruned", v)
			wantCode(t, err, registry.CodeNotFound)
		}
	})
	t.Run("a prune sent again finds nothing more to delete", func(t *testing.T) {
		if got := pruneFlow(t, p, "pruned", req); len(got.Deleted) != 0 || len(got.Bundles) != 0 {
			t.Errorf("second prune deleted %v, bundles %+v", deletedVersions(got), got.Bundles)
		}
	})
	t.Run("without older_than only routes, the newest and running executions keep versions", func(t *testing.T) {
		got := pruneFlow(t, p, "pruned", registry.PruneRequest{Keep: 1})
		if diff := cmp.Diff([]int{6, 7}, deletedVersions(got)); diff != "" {
			t.Errorf("deleted (-want +got):\n%s", diff)
		}
	})
	t.Run("numbers are never reused after a prune", func(t *testing.T) {
		if d := deployBundle(t, s, "pruned", "b9"); d.Version != 9 {
			t.Errorf("next deploy is version %d, want 9", d.Version)
		}
	})
	t.Run("bad requests are refused saying what to send", func(t *testing.T) {
		_, err := p.Prune(ctx, project, "pruned", registry.PruneRequest{Keep: 0}, "tester")
		wantCode(t, err, registry.CodeInvalidArgument, "keep of at least 1")
		_, err = p.Prune(ctx, project, "pruned", registry.PruneRequest{Keep: 1, OlderThan: -time.Hour}, "tester")
		wantCode(t, err, registry.CodeInvalidArgument, "older_than")
		_, err = p.Prune(ctx, project, "no_such_flow", registry.PruneRequest{Keep: 1}, "tester")
		wantCode(t, err, registry.CodeNotFound)
	})
}

func testPruneCollectsBundles(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := f.engine.Open(t, clock.Now)
	bundles := &fakeBundles{}
	p := &prune.Pruner{Store: s, Bundles: bundles, Now: clock.Now}
	deployBundle(t, s, "a", "one")   // a:1
	deployBundle(t, s, "a", "two")   // a:2
	deployBundle(t, s, "a", "two")   // a:3
	deployBundle(t, s, "a", "three") // a:4, default
	deployBundle(t, s, "b", "one")   // b:1, default
	collected := func(names ...string) []string {
		var out []string
		for _, n := range names {
			out = append(out, project+"/"+digestOf(n))
		}
		return out
	}

	t.Run("a bundle whose versions all went is deleted; one another flow uses stays", func(t *testing.T) {
		got := pruneFlow(t, p, "a", registry.PruneRequest{Keep: 1})
		want := []registry.PrunedBundle{
			{Digest: digestOf("one"), Reason: registry.BundleShared, UsedBy: "b:1"},
			{Digest: digestOf("two"), Deleted: true},
		}
		slices.SortFunc(want, func(x, y registry.PrunedBundle) int { return strings.Compare(x.Digest, y.Digest) })
		if diff := cmp.Diff(want, got.Bundles); diff != "" {
			t.Errorf("bundles (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(collected("two"), bundles.taken()); diff != "" {
			t.Errorf("deleted from the bucket (-want +got):\n%s", diff)
		}
	})
	t.Run("a bundle a newer version of the same flow uses stays", func(t *testing.T) {
		deployBundle(t, s, "a", "three") // a:5
		got := pruneFlow(t, p, "a", registry.PruneRequest{Keep: 1})
		if diff := cmp.Diff([]registry.PrunedBundle{{Digest: digestOf("three"), Reason: registry.BundleShared, UsedBy: "a:5"}}, got.Bundles); diff != "" {
			t.Errorf("bundles (-want +got):\n%s", diff)
		}
		if got := bundles.taken(); len(got) != 0 {
			t.Errorf("deleted %v", got)
		}
	})
	t.Run("the shared bundle goes with the last version using it", func(t *testing.T) {
		deployBundle(t, s, "b", "four") // b:2
		got := pruneFlow(t, p, "b", registry.PruneRequest{Keep: 1})
		if diff := cmp.Diff([]registry.PrunedBundle{{Digest: digestOf("one"), Deleted: true}}, got.Bundles); diff != "" {
			t.Errorf("bundles (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(collected("one"), bundles.taken()); diff != "" {
			t.Errorf("deleted from the bucket (-want +got):\n%s", diff)
		}
	})
	t.Run("a dry run names the bundles it would delete and deletes none", func(t *testing.T) {
		deployBundle(t, s, "b", "five") // b:3
		got := pruneFlow(t, p, "b", registry.PruneRequest{Keep: 1, DryRun: true})
		if diff := cmp.Diff([]registry.PrunedBundle{{Digest: digestOf("four"), Deleted: true}}, got.Bundles); diff != "" {
			t.Errorf("bundles (-want +got):\n%s", diff)
		}
		if got := bundles.taken(); len(got) != 0 {
			t.Errorf("a dry run deleted %v", got)
		}
	})
	t.Run("a bundle a deploy holds a lease on stays", func(t *testing.T) {
		if err := s.LeaseBundle(ctx, project, digestOf("four"), clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		got := pruneFlow(t, p, "b", registry.PruneRequest{Keep: 1})
		if diff := cmp.Diff([]registry.PrunedBundle{{Digest: digestOf("four"), Reason: registry.BundleInUse}}, got.Bundles); diff != "" {
			t.Errorf("bundles (-want +got):\n%s", diff)
		}
		if got := bundles.taken(); len(got) != 0 {
			t.Errorf("deleted %v under a lease", got)
		}
		if err := s.ReleaseBundle(ctx, project, digestOf("four")); err != nil {
			t.Fatal(err)
		}
	})
}

// startsDuringDelete is a store on which an invocation of each version
// pruned records its execution right after the version's delete: the invoke
// resolved the version before the delete and records after it.
type startsDuringDelete struct {
	Store
	started []string
}

func (s *startsDuringDelete) DeleteUnroutedDeployment(ctx context.Context, proj, flow string, version int, by string) error {
	if err := s.Store.DeleteUnroutedDeployment(ctx, proj, flow, version, by); err != nil {
		return err
	}
	e := runningExec(proj, flow, "")
	e.Version, e.Snapshot = version, registry.SnapshotName(flow, version)
	if _, _, err := s.CreateExecution(ctx, e); err != nil {
		return err
	}
	s.started = append(s.started, e.ExecID)
	return nil
}

func testPruneLateStart(t *testing.T, f *fixture) {
	deployBundle(t, f.store, "late", "old")
	deployBundle(t, f.store, "late", "new")
	s := &startsDuringDelete{Store: f.store}
	bundles := &fakeBundles{}
	got := pruneFlow(t, &prune.Pruner{Store: s, Bundles: bundles}, "late", registry.PruneRequest{Keep: 1})
	want := []registry.PrunedVersion{{Version: 1, Digest: digestOf("old"), StartedExecutions: s.started}}
	if diff := cmp.Diff(want, got.Deleted, cmpIgnoreCreatedAt); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]registry.PrunedBundle{{Digest: digestOf("old"), Reason: registry.BundleInUse}}, got.Bundles); diff != "" {
		t.Errorf("bundles (-want +got):\n%s", diff)
	}
	if got := bundles.taken(); len(got) != 0 {
		t.Errorf("deleted %v while an execution of it had started", got)
	}
}

var cmpIgnoreCreatedAt = cmp.Comparer(func(a, b time.Time) bool { return true })

func testBundleGuard(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := f.engine.Open(t, clock.Now)
	d := digestOf("guarded")
	later := func(m int) time.Time { return clock.Now().Add(time.Duration(m) * time.Minute) }
	start := func(token string) bool {
		t.Helper()
		ok, err := s.StartBundleCollection(ctx, project, d, token, later(5))
		if err != nil {
			t.Fatalf("start collection %s: %v", token, err)
		}
		return ok
	}
	lease := func() error { return s.LeaseBundle(ctx, project, d, later(2)) }
	release := func() {
		t.Helper()
		if err := s.ReleaseBundle(ctx, project, d); err != nil {
			t.Fatalf("release: %v", err)
		}
	}
	end := func(token string) {
		t.Helper()
		if err := s.EndBundleCollection(ctx, project, d, token); err != nil {
			t.Fatalf("end collection %s: %v", token, err)
		}
	}

	t.Run("a held lease keeps a collection from starting; a released one does not", func(t *testing.T) {
		if err := lease(); err != nil {
			t.Fatal(err)
		}
		if start("c0") {
			t.Fatal("a collection started under a held lease")
		}
		release()
		if !start("c1") {
			t.Fatal("no collection after the lease was released")
		}
	})
	t.Run("a live collection refuses leases and other collections", func(t *testing.T) {
		err := lease()
		wantCode(t, err, registry.CodeConflict, "upload it again")
		if r := reasonOf(err); r != registry.ReasonBundleBeingCollected {
			t.Errorf("reason %q", r)
		}
		if start("c2") {
			t.Error("a second collection started beside a live one")
		}
		if !start("c1") {
			t.Error("the same collection sent again did not find itself")
		}
	})
	t.Run("another project's bundle of the same digest is not guarded", func(t *testing.T) {
		if err := s.LeaseBundle(ctx, "otherproj", d, later(2)); err != nil {
			t.Errorf("lease in another project: %v", err)
		}
	})
	t.Run("ending another collection changes nothing; ending this one lets deploys lease", func(t *testing.T) {
		end("c2")
		wantCode(t, lease(), registry.CodeConflict)
		end("c1")
		if err := lease(); err != nil {
			t.Errorf("lease after the collection ended: %v", err)
		}
	})
	t.Run("deploys share a lease: it holds until the last releases", func(t *testing.T) {
		if err := lease(); err != nil { // a second deploy beside the one above
			t.Fatal(err)
		}
		release()
		if start("c3") {
			t.Fatal("a collection started while one deploy still held its lease")
		}
		release()
		if !start("c3") {
			t.Fatal("no collection after both released")
		}
		end("c3")
	})
	t.Run("a lease never released ends at its deadline, and its late release counts no other", func(t *testing.T) {
		if err := lease(); err != nil {
			t.Fatal(err)
		}
		clock.Advance(3 * time.Minute)
		if !start("c4") {
			t.Fatal("a lease past its end still held the bundle")
		}
		end("c4")
		release() // the dead deploy's, late
		if err := lease(); err != nil {
			t.Fatal(err)
		}
		if start("c5") {
			t.Error("a late release undid a live lease")
		}
		release()
	})
	t.Run("a collection that was never ended expires, and its late end leaves a lease alone", func(t *testing.T) {
		if !start("c6") {
			t.Fatal("no collection")
		}
		clock.Advance(6 * time.Minute) // c6 expired
		if err := lease(); err != nil {
			t.Fatalf("lease after an expired collection: %v", err)
		}
		end("c6")
		if start("c7") {
			t.Error("the late end of an expired collection removed a live lease")
		}
	})
}

// testPruneRacingTagChanges prunes while tags are added to and moved onto
// the versions being pruned: a tag change that succeeded leaves its version
// in place (the store's delete refuses a routed version, and prune reports
// it kept), and one that lost to a delete failed with not_found.
func testPruneRacingTagChanges(t *testing.T, f *fixture) {
	const versions = 10
	for range versions {
		deployBundle(t, f.store, "raced", "same")
	}
	p := &prune.Pruner{Store: f.store, Bundles: &fakeBundles{}}
	var mu sync.Mutex
	held := map[int]string{} // version → shared tag added to it
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 12 {
				v := 1 + rng.IntN(versions-1)
				if w == 0 {
					_, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "raced", Tag: "live", Version: v, Exclusive: true, By: "mover"})
					if err != nil && registry.CodeOf(err) != registry.CodeNotFound && registry.CodeOf(err) != registry.CodeConflict {
						t.Errorf("move live to %d: %v", v, err)
					}
					continue
				}
				tag := fmt.Sprintf("hold%d-%d", w, i)
				_, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "raced", Tag: tag, Version: v, By: "adder"})
				switch {
				case err == nil:
					mu.Lock()
					held[v] = tag
					mu.Unlock()
				case registry.CodeOf(err) != registry.CodeNotFound && registry.CodeOf(err) != registry.CodeConflict:
					t.Errorf("add %s to %d: %v", tag, v, err)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	var deleted []int
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		got := pruneFlow(t, p, "raced", registry.PruneRequest{Keep: 1})
		deleted = append(deleted, deletedVersions(got)...)
	}
	for v, tag := range held {
		d, err := f.store.GetDeployment(ctx, project, "raced", v)
		if err != nil {
			t.Errorf("version %d got shared tag %s and was deleted after all: %v", v, tag, err)
			continue
		}
		if _, ok := d.Tags[tag]; !ok {
			t.Errorf("version %d lost shared tag %s: %v", v, tag, d.Tags)
		}
	}
	if v, err := resolveTag(t, f, "raced", "live"); err == nil && slices.Contains(deleted, v) {
		t.Errorf("live routes to version %d, which prune deleted", v)
	}
	if len(deleted) == 0 {
		t.Log("no version was deleted in this run")
	}
}

// testPruneRoundTrips pins what a prune costs, and how the bundle check
// grows with the project: one query per page of the pruned flow's versions
// (with its head), one listing read (listingReads queries) for its running
// executions and one for executions started during the prune, two per version deleted (three for the latest,
// which prune never deletes: it is routed by default), two per bundle
// collected (start and end of the guard), and for the check that no other
// version uses those bundles, one query and one batch read per page of the
// project's flows plus two requests per page of each flow's versions.
func testPruneRoundTrips(t *testing.T, f *fixture) {
	const flows, perFlow = 6, 3
	for i := range flows {
		for j := range perFlow {
			deployBundle(t, f.store, fmt.Sprintf("trips%d", i), fmt.Sprintf("b%d-%d", i, j))
		}
	}
	p := &prune.Pruner{Store: f.store, Bundles: &fakeBundles{}}
	const deleted, bundles = perFlow - 1, perFlow - 1
	want := int64(2 + 2*listingReads + 2*deleted + 2*bundles + 2 + 2*flows)
	checkTrips(t, f, false, []tripCase{
		{fmt.Sprintf("a prune of %d versions in a project of %d flows takes %d requests", deleted, flows, want), want, func() error {
			got, err := p.Prune(ctx, project, "trips0", registry.PruneRequest{Keep: 1}, "tester")
			if err == nil && len(got.Deleted) != deleted {
				err = fmt.Errorf("deleted %v", deletedVersions(got))
			}
			return err
		}},
		{"a dry run takes the reads only, no deletes and no guard", int64(2 + listingReads + 2 + 2*flows), func() error {
			_, err := p.Prune(ctx, project, "trips1", registry.PruneRequest{Keep: 1, DryRun: true}, "tester")
			return err
		}},
	})
}
