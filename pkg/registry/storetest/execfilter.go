package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

func init() {
	otherCases = append(otherCases, testCase{"ExecutionsByRoute", testExecutionsByRoute, false})
}

// testExecutionsByRoute lists a flow's executions by version, tag, status
// and start time, paging through each filter with a small limit: every
// page is newest first and at most the limit, and the pages together are
// exactly the executions that pass.
func testExecutionsByRoute(t *testing.T, f *fixture) {
	base := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	var all []registry.Execution // oldest first
	for i := range 30 {
		e := runningExec(project, "routed", "")
		e.Version, e.Snapshot = 1+i%3, registry.SnapshotName("routed", 1+i%3)
		e.Selector = registry.Selector{Tag: "stable"}
		if i%2 == 1 {
			e.Selector = registry.Selector{Version: e.Version}
		}
		e.StartedAt = base.Add(time.Duration(i) * time.Minute)
		e = createExec(t, f.store, e)
		if i%5 == 0 {
			got, _, err := f.store.FinishExecution(ctx, project, e.ExecID, registry.Outcome{Status: registry.StatusCancelled, At: e.StartedAt.Add(time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			e = got
		}
		all = append(all, e)
	}
	createExec(t, f.store, runningExec(project, "routed_neighbour", ""))

	for _, tt := range []struct {
		name   string
		filter registry.ExecutionFilter
	}{
		{"by version lists the executions that ran it, however invoked", registry.ExecutionFilter{Version: 2}},
		{"by tag lists the executions invoked through it", registry.ExecutionFilter{Tag: "stable"}},
		{"by status", registry.ExecutionFilter{Status: registry.StatusCancelled}},
		{"since a time lists those started at or after it", registry.ExecutionFilter{Since: base.Add(20 * time.Minute)}},
		{"filters combine", registry.ExecutionFilter{Tag: "stable", Version: 1, Status: registry.StatusRunning}},
		{"a tag nobody invoked lists nothing", registry.ExecutionFilter{Tag: "canary"}},
		{"a since after every start lists nothing", registry.ExecutionFilter{Since: base.Add(time.Hour)}},
		{"a since centuries ahead lists nothing", registry.ExecutionFilter{Since: time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"a since centuries ago lists everything", registry.ExecutionFilter{Since: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var want, got []string
			for i := len(all) - 1; i >= 0; i-- {
				if tt.filter.Matches(all[i]) {
					want = append(want, all[i].ExecID)
				}
			}
			token := ""
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatal("paging does not end")
				}
				p, err := f.store.ListExecutionsBy(ctx, project, "routed", tt.filter, registry.PageRequest{Limit: 4, Token: token})
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Items) > 4 {
					t.Fatalf("a page of %d items, limit 4", len(p.Items))
				}
				for _, e := range p.Items {
					if !tt.filter.Matches(e) {
						t.Errorf("listed %s, which does not pass the filter: %+v", e.ExecID, e)
					}
					got = append(got, e.ExecID)
				}
				if token = p.NextToken; token == "" {
					break
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("listed (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a bad filter is invalid_argument", func(t *testing.T) {
		for _, bad := range []registry.ExecutionFilter{{Status: "done"}, {Tag: "no spaces"}, {Version: -1}} {
			_, err := f.store.ListExecutionsBy(ctx, project, "routed", bad, registry.PageRequest{})
			wantCode(t, err, registry.CodeInvalidArgument)
		}
	})
	t.Run("a token of one filter's list resumes the same list", func(t *testing.T) {
		filter := registry.ExecutionFilter{Version: 3}
		p, err := f.store.ListExecutionsBy(ctx, project, "routed", filter, registry.PageRequest{Limit: 2})
		if err != nil || p.NextToken == "" {
			t.Fatalf("first page: %+v, %v", p, err)
		}
		_, err = f.store.ListExecutionsBy(ctx, project, "routed_neighbour", filter, registry.PageRequest{Token: p.NextToken})
		wantCode(t, err, registry.CodeInvalidArgument)
	})
}
