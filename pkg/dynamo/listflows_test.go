package dynamo_test

import (
	"fmt"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// TestListFlowsRoundTrips: a page of flow summaries is one query of the
// project's flow index and one batch read of the flows' heads, whatever the
// number of flows on it.
func TestListFlowsRoundTrips(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f *fixture) {
		have := 0
		for _, n := range []int{10, 100} {
			for ; have < n; have++ {
				deploy(t, f, fmt.Sprintf("flow_%03d", have), "", false)
			}
			t.Run(fmt.Sprintf("a page of %d flows takes 2 requests", n), func(t *testing.T) {
				before := f.trips.Load()
				p, err := f.store.ListFlows(ctx, project, registry.PageRequest{Limit: n})
				if err != nil {
					t.Fatal(err)
				}
				if got := f.trips.Load() - before; got != 2 {
					t.Errorf("took %d requests, want 2", got)
				}
				if len(p.Items) != n || p.NextToken != "" {
					t.Fatalf("got %d flows (next %q), want %d", len(p.Items), p.NextToken, n)
				}
				for _, fs := range p.Items {
					if fs.DeploymentCount != 1 || fs.LatestVersion != 1 || fs.DefaultVersion == nil || *fs.DefaultVersion != 1 {
						t.Fatalf("summary %+v", fs)
					}
				}
			})
		}
		t.Run("a page holds at most 100 flows, one batch read", func(t *testing.T) {
			deploy(t, f, "flow_100", "", false)
			before := f.trips.Load()
			p, err := f.store.ListFlows(ctx, project, registry.PageRequest{Limit: registry.MaxPageSize})
			if err != nil || len(p.Items) != 100 || p.NextToken == "" {
				t.Fatalf("got %d flows (next %q), %v; want 100 and a next page", len(p.Items), p.NextToken, err)
			}
			if got := f.trips.Load() - before; got != 2 {
				t.Errorf("took %d requests, want 2", got)
			}
			p, err = f.store.ListFlows(ctx, project, registry.PageRequest{Limit: registry.MaxPageSize, Token: p.NextToken})
			if err != nil || len(p.Items) != 1 || p.Items[0].Flow != "flow_100" || p.NextToken != "" {
				t.Fatalf("second page %+v, %v", p, err)
			}
		})
		t.Run("one flow's summary takes 1 request", func(t *testing.T) {
			before := f.trips.Load()
			if _, err := f.store.GetFlow(ctx, project, "flow_000"); err != nil {
				t.Fatal(err)
			}
			if got := f.trips.Load() - before; got != 1 {
				t.Errorf("took %d requests, want 1", got)
			}
		})
	})
}
