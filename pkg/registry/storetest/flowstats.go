package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/flowstats"
	"github.com/kitaru/deployments/pkg/registry"
)

func init() {
	otherCases = append(otherCases, testCase{"FlowStats", testFlowStats, false})
}

// testFlowStats computes flow stats (pkg/flowstats) over the store's
// executions: the route's versions with their counts, durations and last
// failure, by tag and by version, within the window and the count bound.
func testFlowStats(t *testing.T, f *fixture) {
	const flow = "canaried"
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	stats := func(q flowstats.Query, maxRecords int) (flowstats.Stats, error) {
		q.Project, q.Flow = project, flow
		return flowstats.Service{Store: f.store, Now: clock, MaxRecords: maxRecords}.Stats(ctx, q)
	}
	mustStats := func(t *testing.T, q flowstats.Query, maxRecords int) flowstats.Stats {
		t.Helper()
		st, err := stats(q, maxRecords)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	// default -> 1, live -> 3 (moved there from 2 by the third deploy).
	deploy(t, f, flow, "", true)
	deploy(t, f, flow, "live", true)
	deploy(t, f, flow, "live", true)
	deploy(t, f, "empty_flow", "", true)

	type run struct {
		version  int
		tag      string
		ago      time.Duration
		status   registry.ExecStatus
		took     time.Duration
		errType  string
		execID   string
		startedA time.Time
	}
	runs := []*run{ // oldest first, as invocations create them
		{version: 3, tag: "live", ago: 30 * time.Hour, status: registry.StatusFailed, took: time.Second, errType: "TooOld"},
		{version: 2, tag: "live", ago: 5 * time.Hour, status: registry.StatusCompleted, took: time.Second},
		{version: 2, tag: "live", ago: 4 * time.Hour, status: registry.StatusFailed, took: 2 * time.Second, errType: "ValueError"},
		{version: 1, ago: 3 * time.Hour, status: registry.StatusCancelled, took: 4 * time.Second},
		{version: 3, tag: "live", ago: 3 * time.Hour, status: registry.StatusCompleted, took: 1500 * time.Millisecond},
		{version: 3, tag: "live", ago: 2 * time.Hour, status: registry.StatusFailed, took: 3 * time.Second, errType: "KeyError"},
		{version: 3, tag: "live", ago: 90 * time.Minute, status: registry.StatusCompleted, took: 10 * time.Second},
		{version: 3, tag: "live", ago: time.Hour, status: registry.StatusFailed, took: 2 * time.Second, errType: "TypeError"},
		{version: 3, ago: 30 * time.Minute, status: registry.StatusCompleted, took: 500 * time.Millisecond},
		{version: 3, tag: "live", ago: time.Minute, status: registry.StatusRunning},
	}
	for _, r := range runs {
		e := runningExec(project, flow, "")
		e.Version, e.Snapshot, e.StartedAt = r.version, registry.SnapshotName(flow, r.version), now.Add(-r.ago)
		e.Selector = registry.Selector{Tag: r.tag}
		if r.tag == "" {
			e.Selector = registry.Selector{Version: r.version}
		}
		e = createExec(t, f.store, e)
		r.execID, r.startedA = e.ExecID, e.StartedAt
		if r.status == registry.StatusRunning {
			continue
		}
		o := registry.Outcome{Status: r.status, At: e.StartedAt.Add(r.took)}
		if r.errType != "" {
			o.Error = &registry.ExecError{Type: r.errType, Message: "boom"}
		}
		if _, _, err := f.store.FinishExecution(ctx, project, e.ExecID, o); err != nil {
			t.Fatal(err)
		}
	}
	createExec(t, f.store, runningExec(project, "canaried_neighbour", ""))
	secs := func(s float64) *float64 { return &s }
	failure := func(r *run) *flowstats.Failure {
		return &flowstats.Failure{ExecID: r.execID, Type: r.errType, At: r.startedA.Add(r.took)}
	}
	window := flowstats.Stats{Project: project, Flow: flow, Since: now.Add(-flowstats.DefaultWindow), Until: now}

	t.Run("without a tag every routed version has a row, then the versions that ran off the route", func(t *testing.T) {
		want := window
		want.Read = 9
		want.Versions = []flowstats.VersionStats{
			{Version: 3, Tags: []string{"live"}, Started: 6, Completed: 3, Failed: 2, Running: 1,
				// ended: 0.5, 1.5, 2, 3, 10 s
				P50Seconds: secs(2), P95Seconds: secs(10), LastFailure: failure(runs[7])},
			{Version: 1, Tags: []string{"default"}, Started: 1, Cancelled: 1, P50Seconds: secs(4), P95Seconds: secs(4)},
			{Version: 2, Tags: []string{}, Started: 2, Completed: 1, Failed: 1, P50Seconds: secs(1), P95Seconds: secs(2), LastFailure: failure(runs[2])},
		}
		if diff := cmp.Diff(want, mustStats(t, flowstats.Query{}, 0)); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
	t.Run("a tag counts the executions invoked through it, on the versions it routes to and routed to", func(t *testing.T) {
		want := window
		want.Tag, want.Read = "live", 9
		want.Versions = []flowstats.VersionStats{
			{Version: 3, Tags: []string{"live"}, Started: 5, Completed: 2, Failed: 2, Running: 1,
				P50Seconds: secs(2), P95Seconds: secs(10), LastFailure: failure(runs[7])},
			{Version: 2, Tags: []string{}, Started: 2, Completed: 1, Failed: 1, P50Seconds: secs(1), P95Seconds: secs(2), LastFailure: failure(runs[2])},
		}
		if diff := cmp.Diff(want, mustStats(t, flowstats.Query{Tag: "live"}, 0)); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
	t.Run("a version asked directly has its row even off the route", func(t *testing.T) {
		st := mustStats(t, flowstats.Query{Version: 2}, 0)
		want := []flowstats.VersionStats{{Version: 2, Tags: []string{}, Started: 2, Completed: 1, Failed: 1,
			P50Seconds: secs(1), P95Seconds: secs(2), LastFailure: failure(runs[2])}}
		if diff := cmp.Diff(want, st.Versions); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
	})
	t.Run("since narrows the window to the executions started at or after it", func(t *testing.T) {
		st := mustStats(t, flowstats.Query{Since: now.Add(-time.Hour)}, 0)
		want := []flowstats.VersionStats{
			{Version: 3, Tags: []string{"live"}, Started: 3, Completed: 1, Failed: 1, Running: 1,
				P50Seconds: secs(0.5), P95Seconds: secs(2), LastFailure: failure(runs[7])},
			{Version: 1, Tags: []string{"default"}},
		}
		if diff := cmp.Diff(want, st.Versions); diff != "" {
			t.Errorf("rows (-want +got):\n%s", diff)
		}
		if st.Read != 3 || st.Sampled {
			t.Errorf("read %d sampled %v, want 3 records read in full", st.Read, st.Sampled)
		}
	})
	t.Run("a read cut by the count bound counts the newest and says where it stopped", func(t *testing.T) {
		st := mustStats(t, flowstats.Query{}, 4)
		oldest := runs[6].startedA
		if st.Read != 4 || !st.Sampled || st.OldestSeen == nil || !st.OldestSeen.Equal(oldest) {
			t.Fatalf("read %d sampled %v oldest_seen %v, want 4, true, %v", st.Read, st.Sampled, st.OldestSeen, oldest)
		}
		if got := st.Versions[0]; got.Version != 3 || got.Started != 4 {
			t.Errorf("first row %+v, want version 3 with the 4 newest executions", got)
		}
	})
	t.Run("a read that ends exactly at the count bound is complete", func(t *testing.T) {
		st := mustStats(t, flowstats.Query{}, 9)
		if st.Read != 9 || st.Sampled || st.OldestSeen != nil {
			t.Errorf("read %d sampled %v oldest_seen %v, want 9 read in full", st.Read, st.Sampled, st.OldestSeen)
		}
	})
	t.Run("a flow without executions has its routed versions at zero", func(t *testing.T) {
		st, err := flowstats.Service{Store: f.store, Now: clock}.Stats(ctx, flowstats.Query{Project: project, Flow: "empty_flow"})
		if err != nil {
			t.Fatal(err)
		}
		want := []flowstats.VersionStats{{Version: 1, Tags: []string{"default"}}}
		if diff := cmp.Diff(want, st.Versions); diff != "" || st.Read != 0 || st.Sampled {
			t.Errorf("read %d sampled %v rows (-want +got):\n%s", st.Read, st.Sampled, diff)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			q      flowstats.Query
			code   registry.Code
			reason string
		}{
			{"an unknown flow is not found", flowstats.Query{Flow: "no_such_flow"}, registry.CodeNotFound, registry.ReasonNoDeployments},
			{"a tag the flow does not have is not found", flowstats.Query{Tag: "canary"}, registry.CodeNotFound, registry.ReasonTagNotFound},
			{"a version beyond the latest is not found", flowstats.Query{Version: 4}, registry.CodeNotFound, registry.ReasonVersionNotFound},
			{"a since further back than the window is refused", flowstats.Query{Since: now.Add(-flowstats.MaxWindow - time.Second)}, registry.CodeInvalidArgument, registry.ReasonSinceOutOfRange},
			{"a since in the future is refused", flowstats.Query{Since: now.Add(time.Second)}, registry.CodeInvalidArgument, registry.ReasonSinceOutOfRange},
			{"a bad tag name is refused", flowstats.Query{Tag: "Bad Tag"}, registry.CodeInvalidArgument, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				q := tt.q
				if q.Flow == "" {
					q.Flow = flow
				}
				q.Project = project
				_, err := flowstats.Service{Store: f.store, Now: clock}.Stats(ctx, q)
				wantCode(t, err, tt.code)
				if got := reasonOf(err); got != tt.reason {
					t.Errorf("reason %q, want %q", got, tt.reason)
				}
			})
		}
	})
	t.Run("the window's full month back is allowed", func(t *testing.T) {
		st := mustStats(t, flowstats.Query{Since: now.Add(-flowstats.MaxWindow)}, 0)
		if st.Read != 10 {
			t.Errorf("read %d, want all 10 executions of the month", st.Read)
		}
	})
}

func init() {
	budgetCases = append(budgetCases, testCase{"FlowStatsRoundTrips", testFlowStatsRoundTrips, false})
}

// testFlowStatsRoundTrips: an answer reads the flow's summary once and its
// executions in pages of registry.MaxPageSize, stopping at the window's
// start; the count bound stops it early. On DynamoDB a page is one listing
// read (listingReads concurrent queries); these executions are small, so
// their listing copies answer without reading the records.
func testFlowStatsRoundTrips(t *testing.T, f *fixture) {
	const n = 2*registry.MaxPageSize + 50
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	deploy(t, f, "counted", "", true)
	for i := range n + 10 { // the 10 oldest are before the window
		e := runningExec(project, "counted", "")
		e.Version, e.Snapshot, e.StartedAt = 1, registry.SnapshotName("counted", 1), now.Add(time.Duration(i-n-10)*time.Minute)
		if i < 10 {
			e.StartedAt = e.StartedAt.Add(-flowstats.DefaultWindow)
		}
		createExec(t, f.store, e)
	}
	stats := func(maxRecords int) func() error {
		return func() error {
			st, err := flowstats.Service{Store: f.store, Now: func() time.Time { return now }, MaxRecords: maxRecords}.
				Stats(ctx, flowstats.Query{Project: project, Flow: "counted"})
			if err == nil && st.Read != min(n, maxRecords) {
				t.Errorf("read %d, want %d", st.Read, min(n, maxRecords))
			}
			return err
		}
	}
	checkTrips(t, f, false, []tripCase{
		{"stats over 450 executions take 1 summary read and 3 pages", 1 + 3*listingReads, stats(flowstats.DefaultMaxRecords)},
		{"stats cut at 200 records take 1 summary read and 2 pages (the second finds the 201st)", 1 + 2*listingReads, stats(registry.MaxPageSize)},
	})
}
