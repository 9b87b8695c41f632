package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// RunBudgets runs only the round-trip budgets on e, which must count
// requests: pkg/dynamo runs them with the transport failing and the SDK
// retrying, to show a budget counts the store's requests, not attempts.
func RunBudgets(t *testing.T, e Engine) {
	if e.RoundTrips == nil {
		t.Fatalf("%s does not count round trips: set Engine.RoundTrips", e.Name)
	}
	run(t, e, budgetCases)
}

// TestRoundTripBudget pins the request counts of the hot paths (I7: resolving
// never lists versions), counted by the SDK middleware, not timed.
func testRoundTripBudget(t *testing.T, f *fixture) {
	for range 30 {
		deploy(t, f, "budget", "", false)
	}
	mustTag(t, f, "budget", "stable", 3, true)
	checkTrips(t, f, true, []tripCase{
		{"a deploy takes at most 3 requests", 3, func() error { deploy(t, f, "budget", "canary", true); return nil }},
		{"a tag move takes at most 2 requests", 2, func() error { _, err := putTag(f, "budget", "stable", 4, true); return err }},
		{"a split change takes at most 2 requests, as a move", 2, func() error {
			_, err := putSplit(f, "budget", "stable", registry.Split{4: 90, 5: 10})
			return err
		}},
		{"resolving a split tag takes at most 2 requests", 2, func() error { _, err := resolveTag(t, f, "budget", "stable"); return err }},
		{"a move collapsing a split takes at most 2 requests", 2, func() error { _, err := putTag(f, "budget", "stable", 6, true); return err }},
		{"resolving a tag takes at most 2 requests", 2, func() error { _, err := resolveTag(t, f, "budget", "stable"); return err }},
		{"resolving a version takes 1 request", 1, func() error {
			_, err := f.store.Resolve(ctx, project, "budget", registry.Selector{Version: 7})
			return err
		}},
	})
}

// TestKeyRoundTrips pins the requests of the key operations; GetKey runs on
// every request that presents an API key.
func testKeyRoundTrips(t *testing.T, f *fixture) {
	checkTrips(t, f, false, []tripCase{
		{"creating a key takes 1 request", 1, func() error { return f.store.CreateKey(ctx, testKey(t, "budget", keyEpoch)) }},
		{"reading a key takes exactly 1 request", 1, func() error { _, err := f.store.GetKey(ctx, "budget"); return err }},
		{"listing keys takes 1 request", 1, func() error { _, err := f.store.ListKeys(ctx); return err }},
		{"a recorded touch takes 2 requests", 2, func() error { return f.store.TouchKey(ctx, "budget", keyEpoch.Add(time.Hour)) }},
		{"a throttled touch takes 1 request", 1, func() error { return f.store.TouchKey(ctx, "budget", keyEpoch.Add(time.Hour+time.Second)) }},
		{"revoking takes 2 requests", 2, func() error { _, err := f.store.RevokeKey(ctx, "budget", keyEpoch.Add(2*time.Hour)); return err }},
		{"revoking a revoked key takes 1 request", 1, func() error { _, err := f.store.RevokeKey(ctx, "budget", keyEpoch.Add(3*time.Hour)); return err }},
	})
}

// The budgets below are DynamoDB's (the engines that count requests). A flow's
// executions are listed from listingShards partitions (docs/data-model.md,
// "Executions"): one read of its listing is listingReads queries, sent
// concurrently. A copy under 1 KB holds the whole execution and answers the
// list by itself (these cases' executions are that small); larger ones are
// read from their records, one batch read per 100.
const (
	listingShards = 32
	// listingReads: a query per listing shard, and one of the flow's own
	// partition for the copies builds before sharding wrote there.
	listingReads = listingShards + 1
	// runningShards is the number of running-index partitions the reaper
	// queries.
	runningShards = 128
)

// testExecutionRoundTrips: an invoke with an idempotency key reads the
// key's pre-sharding item (one eventually consistent GetItem) before its
// transaction.
func testExecutionRoundTrips(t *testing.T, f *fixture) {
	e := runningExec(project, "trips", "trip-key")
	checkTrips(t, f, false, []tripCase{
		{"creating an execution with an idempotency key takes 2 requests", 2, func() error {
			_, _, err := f.store.CreateExecution(ctx, e)
			return err
		}},
		{"getting an execution takes 1 request", 1, func() error { _, err := f.store.GetExecution(ctx, project, e.ExecID); return err }},
		{"listing a flow's small executions takes a query per listing source", listingReads, func() error {
			_, err := f.store.ListExecutions(ctx, project, "trips", registry.PageRequest{})
			return err
		}},
		{"finishing an execution takes 2 requests", 2, func() error {
			_, _, err := f.store.FinishExecution(ctx, project, e.ExecID, registry.Outcome{Status: registry.StatusCompleted})
			return err
		}},
		{"replaying an idempotency key takes 4 requests", 4, func() error {
			_, _, err := f.store.CreateExecution(ctx, runningExec(project, "trips", "trip-key"))
			return err
		}},
	})
}

func testRunningIndexRoundTrips(t *testing.T, f *fixture) {
	before := f.trips()
	if _, err := f.store.RunningStartedBefore(ctx, time.Now(), 100); err != nil {
		t.Fatal(err)
	}
	if got := f.trips() - before; got != runningShards {
		t.Fatalf("listing overdue executions of an empty index took %d requests, want %d (one per shard)", got, runningShards)
	}
}

// testListFlowsRoundTrips: a page of flow summaries is one query of the
// project's flow index and one batch read of the flows' heads, whatever the
// number of flows on it.
func testListFlowsRoundTrips(t *testing.T, f *fixture) {
	have := 0
	for _, n := range []int{10, 100} {
		for ; have < n; have++ {
			deploy(t, f, fmt.Sprintf("flow_%03d", have), "", false)
		}
		t.Run(fmt.Sprintf("a page of %d flows takes 2 requests", n), func(t *testing.T) {
			before := f.trips()
			p, err := f.store.ListFlows(ctx, project, registry.PageRequest{Limit: n})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.trips() - before; got != 2 {
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
		before := f.trips()
		p, err := f.store.ListFlows(ctx, project, registry.PageRequest{Limit: registry.MaxPageSize})
		if err != nil || len(p.Items) != 100 || p.NextToken == "" {
			t.Fatalf("got %d flows (next %q), %v; want 100 and a next page", len(p.Items), p.NextToken, err)
		}
		if got := f.trips() - before; got != 2 {
			t.Errorf("took %d requests, want 2", got)
		}
		p, err = f.store.ListFlows(ctx, project, registry.PageRequest{Limit: registry.MaxPageSize, Token: p.NextToken})
		if err != nil || len(p.Items) != 1 || p.Items[0].Flow != "flow_100" || p.NextToken != "" {
			t.Fatalf("second page %+v, %v", p, err)
		}
	})
	t.Run("one flow's summary takes 1 request", func(t *testing.T) {
		before := f.trips()
		if _, err := f.store.GetFlow(ctx, project, "flow_000"); err != nil {
			t.Fatal(err)
		}
		if got := f.trips() - before; got != 1 {
			t.Errorf("took %d requests, want 1", got)
		}
	})
}

// tripCase is one operation and the requests it may send.
type tripCase struct {
	name  string
	trips int64
	op    func() error
}

// checkTrips runs each case as a subtest and counts its requests: at most
// c.trips when atMost, else exactly c.trips.
func checkTrips(t *testing.T, f *fixture, atMost bool, cases []tripCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := f.trips()
			if err := c.op(); err != nil {
				t.Fatal(err)
			}
			got := f.trips() - before
			if atMost && got > c.trips {
				t.Fatalf("took %d requests, budget %d", got, c.trips)
			}
			if !atMost && got != c.trips {
				t.Fatalf("took %d requests, want %d", got, c.trips)
			}
		})
	}
}
