package invoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sqlstore"
)

// TestInvokingASplitTagPicksByWeight invokes a 90/10 split 10,000 times
// through the whole invoke path (resolve, record, start) on a real store:
// without a key the observed share is within two points of the weight;
// with a sticky key, or an Idempotency-Key, the same key always lands on
// the same version. Every execution records the version picked and the
// route revision it was picked from.
func TestInvokingASplitTagPicksByWeight(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(sqlstore.Memory)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	exec := &recordingExecutor{}
	stacks := registry.Stacks{All: []registry.Stack{{Name: "dev", RemoteExecutable: true}}, Default: "dev"}
	svc := &invoke.Service{Registry: store, Execs: store, Executor: exec, Objects: fakeObjects{}, Stacks: stacks}
	src := &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)}
	for range 2 {
		if _, err := store.Deploy(ctx, registry.DeployRequest{Project: "p", Flow: "research", Entrypoint: "flows/f.py:research", Source: src,
			Inputs: json.RawMessage(`{}`), Stack: "dev"}); err != nil {
			t.Fatal(err)
		}
	}
	live, err := store.PutTag(ctx, registry.TagRequest{Project: "p", Flow: "research", Tag: "live", Split: registry.Split{1: 90, 2: 10}, Exclusive: true})
	if err != nil {
		t.Fatal(err)
	}

	const n = 10000
	picked := map[int]int{}
	for range n {
		e, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "research", Selector: registry.Selector{Tag: "live"}})
		if err != nil {
			t.Fatal(err)
		}
		if e.RouteRevision != live.Revision || e.Selector != (registry.Selector{Tag: "live"}) {
			t.Fatalf("execution records route revision %d, selector %+v; want %d, the tag", e.RouteRevision, e.Selector, live.Revision)
		}
		picked[e.Version]++
	}
	share := float64(picked[1]) * 100 / n
	t.Logf("%d invokes of a 90/10 split: v1 %d (%.2f%%), v2 %d", n, picked[1], share, picked[2])
	if share < 88 || share > 92 || picked[1]+picked[2] != n {
		t.Fatalf("v1 got %.2f%% of %d invokes (%v), want 90 ± 2", share, n, picked)
	}
	if len(exec.started) != n {
		t.Fatalf("%d runs started, want %d", len(exec.started), n)
	}

	t.Run("a sticky key always lands on the same version", func(t *testing.T) {
		seen := map[int]bool{}
		for k := range 50 {
			key := fmt.Sprintf("user-%d", k)
			want := 0
			for range 5 {
				e, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "research", Selector: registry.Selector{Tag: "live", StickyKey: key}})
				if err != nil {
					t.Fatal(err)
				}
				if want == 0 {
					want = e.Version
				}
				if e.Version != want {
					t.Fatalf("key %s picked v%d after v%d", key, e.Version, want)
				}
				if e.Selector.StickyKey != "" {
					t.Fatalf("the execution keeps the sticky key %q", e.Selector.StickyKey)
				}
			}
			seen[want] = true
		}
		if !seen[1] || !seen[2] {
			t.Fatalf("50 keys all landed on %v, want both versions", seen)
		}
	})
	t.Run("an Idempotency-Key picks like a sticky key", func(t *testing.T) {
		for k := range 30 {
			key := fmt.Sprintf("order-%d", k)
			want := registry.Split{1: 90, 2: 10}.Pick(registry.StickyBucket("research", "live", key))
			e, created, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "research", Selector: registry.Selector{Tag: "live"}, IdempotencyKey: key})
			if err != nil || !created || e.Version != want {
				t.Fatalf("key %s: v%d created=%v %v; want v%d", key, e.Version, created, err, want)
			}
		}
	})
}
