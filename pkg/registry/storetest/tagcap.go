package storetest

import (
	"errors"
	"fmt"
	"sync"
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

// capRaceRounds is how many times testConcurrentTagCreationsKeepTheCap
// races creations at the cap; capRacers how many race each time.
const (
	capRaceRounds = 25
	capRacers     = 8
)

// testConcurrentTagCreationsKeepTheCap brings a flow to one tag below its
// cap and has capRacers writers each route a different new tag at once
// (tag requests exclusive and shared, and deploys whose routing tag is new):
// exactly one commits and every other is refused with too_many_tags, on
// every engine, round after round. A cap checked only against the state a
// change planned on lets all of them in.
func testConcurrentTagCreationsKeepTheCap(t *testing.T, f *fixture) {
	if f.engine.LimitTags == nil {
		t.Skip("the engine cannot lower its cap; filling the real one each round takes too long")
	}
	const flow, limit = "cap_race", 6
	f.engine.LimitTags(f.store, limit)
	deploy(t, f, flow, "", false) // v1: default
	deploy(t, f, flow, "", false) // v2
	for i := 2; i < limit; i++ {
		mustTag(t, f, flow, fmt.Sprintf("kept-%d", i), 1, true)
	}
	for round := range capRaceRounds {
		type outcome struct {
			tag     string
			version int
			err     error
		}
		outcomes := make([]outcome, capRacers)
		var wg sync.WaitGroup
		for i := range capRacers {
			tag := fmt.Sprintf("r%02d-%d", round, i)
			wg.Go(func() {
				switch i % 3 {
				case 0:
					d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:cap", Tag: tag, Exclusive: true, Stack: "dev", By: "racer"})
					outcomes[i] = outcome{tag, d.Version, err}
				default:
					_, err := putTag(f, flow, tag, 1+i%2, i%3 == 1)
					outcomes[i] = outcome{tag, 1 + i%2, err}
				}
			})
		}
		wg.Wait()
		var won []outcome
		for _, o := range outcomes {
			if o.err == nil {
				won = append(won, o)
				continue
			}
			var re *registry.Error
			if !errors.As(o.err, &re) || re.Details[registry.DetailReason] != registry.ReasonTooManyTags {
				t.Fatalf("round %d: %s: %v; want too_many_tags or success", round, o.tag, o.err)
			}
		}
		if len(won) != 1 {
			s, _ := f.store.GetFlow(ctx, project, flow)
			t.Fatalf("round %d: %d of %d creations committed (%v), want exactly one; the flow routes %d tags, cap %d", round, len(won), capRacers, won, len(s.Tags), limit)
		}
		if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: won[0].tag, Version: won[0].version, By: "tester"}); err != nil {
			t.Fatalf("round %d: free %s: %v", round, won[0].tag, err)
		}
	}
	s, err := f.store.GetFlow(ctx, project, flow)
	if err != nil || len(s.Tags) != limit-1 {
		t.Fatalf("after %d rounds the flow routes %d tags (%v), want %d", capRaceRounds, len(s.Tags), err, limit-1)
	}
}
