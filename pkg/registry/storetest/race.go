package storetest

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

func testConcurrentDeploysAllocateDenseVersions(t *testing.T, f *fixture) {
	const n = 64
	var before int64
	if f.engine.RoundTrips != nil {
		before = f.trips()
	}
	versions := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "race", Entrypoint: "f.py:race", Stack: "dev", By: "racer"})
			versions[i], errs[i] = d.Version, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("deploy %d failed: %v", i, err)
		}
	}
	// Each deploy commits in one transaction after its tick: no deploy
	// re-sends because a sibling committed first (a count, not a time).
	if f.engine.RoundTrips != nil {
		trips := float64(f.trips()-before) / n
		t.Logf("%d concurrent deploys: %.3f requests each", n, trips)
		if trips > maxTripsPerContendedDeploy {
			t.Errorf("%d concurrent deploys took %.2f requests each, budget %.1f", n, trips, maxTripsPerContendedDeploy)
		}
	}
	slices.Sort(versions)
	for i, v := range versions {
		if v != i+1 {
			t.Fatalf("versions are not exactly 1..%d: %v", n, versions)
		}
	}
	fs, err := f.store.GetFlow(ctx, project, "race")
	if err != nil || fs.DeploymentCount != n || fs.LatestVersion != n {
		t.Fatalf("summary %+v %v", fs, err)
	}
	if *fs.DefaultVersion != n {
		t.Fatalf("default ends on v%d, want the highest version v%d", *fs.DefaultVersion, n)
	}
	// default ends where its last recorded change put it.
	h, err := f.store.TagHistory(ctx, project, "race", "default", registry.PageRequest{Limit: registry.MaxPageSize})
	if err != nil || len(h.Items) != n {
		t.Fatalf("want %d default changes in history, got %d (%v)", n, len(h.Items), err)
	}
	if *fs.DefaultVersion != *h.Items[0].To {
		t.Fatalf("default is on v%d but history's last change moved it to v%d", *fs.DefaultVersion, *h.Items[0].To)
	}
	for i := 0; i+1 < len(h.Items); i++ {
		if *h.Items[i].From != *h.Items[i+1].To {
			t.Fatalf("history chain broken at %d: %+v after %+v", i, h.Items[i], h.Items[i+1])
		}
	}
}

// maxTripsPerContendedDeploy is issue 15's budget for 64 concurrent plain
// deploys of one flow: the floor (counter + conditional put) is 2.
const maxTripsPerContendedDeploy = 2.2

func testConcurrentTagMovesAreAtomic(t *testing.T, f *fixture) {
	const versions, movers, moves = 4, 32, 3
	for range versions {
		deploy(t, f, "moves", "", false)
	}
	mustTag(t, f, "moves", "stable", 1, true)
	var done atomic.Bool
	var reads atomic.Int64
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for !done.Load() {
				r, err := f.store.Resolve(ctx, project, "moves", registry.Selector{Tag: "stable"})
				if err != nil {
					t.Errorf("resolve during moves: %v", err)
					return
				}
				if !r.Deployment.Tags["stable"] {
					t.Errorf("resolved v%d which does not hold stable: %v", r.Deployment.Version, r.Deployment.Tags)
					return
				}
				fs, err := f.store.GetFlow(ctx, project, "moves")
				if err != nil || len(fs.Tags["stable"]) != 1 {
					t.Errorf("stable is on %v (%v) during moves, want exactly one version", fs.Tags["stable"], err)
					return
				}
				reads.Add(1)
			}
		})
	}
	var wg sync.WaitGroup
	for i := range movers {
		wg.Go(func() {
			for j := range moves {
				// A move overtaken by a later one is refused (conflict), not applied behind it.
				if _, err := putTag(f, "moves", "stable", 1+(i+j)%versions, true); err != nil && !errors.Is(err, registry.ErrConflict) {
					t.Errorf("move: %v", err)
				}
			}
		})
	}
	wg.Wait()
	done.Store(true)
	readers.Wait()
	fs, err := f.store.GetFlow(ctx, project, "moves")
	if err != nil || len(fs.Tags["stable"]) != 1 {
		t.Fatalf("stable is on %v (%v), want exactly one version", fs.Tags["stable"], err)
	}
	h, err := f.store.TagHistory(ctx, project, "moves", "stable", registry.PageRequest{Limit: 1})
	if err != nil || *h.Items[0].To != fs.Tags["stable"][0] {
		t.Fatalf("stable on %v but the last committed move went to %v (%v)", fs.Tags["stable"], h.Items, err)
	}
	if reads.Load() == 0 {
		t.Fatal("readers never completed a read")
	}
}

func testDeletesRacingTagMovesLeaveNoTagOnADeletedVersion(t *testing.T, f *fixture) {
	const rounds = 12
	deploy(t, f, "dr", "", false) // v1 keeps default
	for round := range rounds {
		v := deploy(t, f, "dr", "bench", false).Version
		var wg sync.WaitGroup
		var moveErr, delErr error
		wg.Go(func() {
			tag, exclusive := "stable", true
			if round%2 == 1 {
				tag, exclusive = "bench", false
			}
			_, moveErr = putTag(f, "dr", tag, v, exclusive)
		})
		wg.Go(func() { delErr = f.store.DeleteDeployment(ctx, project, "dr", v, "racer") })
		wg.Wait()
		for _, err := range []error{moveErr, delErr} {
			if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrConflict) {
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		fs, err := f.store.GetFlow(ctx, project, "dr")
		if err != nil {
			t.Fatal(err)
		}
		for tag, vs := range fs.Tags {
			for _, tv := range vs {
				if _, err := f.store.GetDeployment(ctx, project, "dr", tv); err != nil {
					h, _ := f.store.TagHistory(ctx, project, "dr", tag, registry.PageRequest{Limit: 3})
					t.Fatalf("round %d: tag %s points at v%d: %v (the move answered %v, the delete %v; newest history %+v)", round, tag, tv, err, moveErr, delErr, h.Items)
				}
			}
		}
		if delErr == nil && moveErr == nil && fs.Tags["stable"] != nil && fs.Tags["stable"][0] == v {
			t.Fatalf("round %d: both the delete and the move of stable onto v%d succeeded", round, v)
		}
		if fs.Tags["stable"] != nil && fs.Tags["stable"][0] == v {
			mustTag(t, f, "dr", "stable", 1, true) // free v for the next round's delete
		}
	}
}

// TestLatestVersionSurvivesRacingDeletesAndDeploys deletes the two highest
// versions at once, then the highest while deploys commit: the summary's
// latest version (kept in the flow head) must always be the highest version
// that exists.
func testLatestVersionSurvivesRacingDeletesAndDeploys(t *testing.T, f *fixture) {
	const rounds = 8
	deploy(t, f, "top", "", false) // v1 keeps default
	run := func(round int, ops ...func() error) {
		t.Helper()
		errs := make([]error, len(ops))
		var wg sync.WaitGroup
		for i, op := range ops {
			wg.Go(func() { errs[i] = op() })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		p, err := f.store.ListDeployments(ctx, project, "top", registry.PageRequest{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		fs, err := f.store.GetFlow(ctx, project, "top")
		if err != nil || fs.LatestVersion != p.Items[0].Version {
			t.Fatalf("round %d: summary says latest v%d, the highest version is v%d (%v)", round, fs.LatestVersion, p.Items[0].Version, err)
		}
	}
	del := func(v int) func() error {
		return func() error { return f.store.DeleteDeployment(ctx, project, "top", v, "racer") }
	}
	dep := func() error {
		_, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "top", Entrypoint: "f.py:top", Tag: "bench", Stack: "dev", By: "racer"})
		return err
	}
	for round := range rounds {
		a := deploy(t, f, "top", "bench", false).Version
		b := deploy(t, f, "top", "bench", false).Version
		run(round, del(a), del(b))
		c := deploy(t, f, "top", "bench", false).Version
		run(round, del(c), dep, dep)
	}
}
