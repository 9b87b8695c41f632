package dynamo_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
)

// faultsOn makes newFixture build its client with the fault-injecting decorator.
var faultsOn atomic.Bool

// newFaults is the fault mix of the suite: about a third of all writes meet a
// fault, and one in six is applied with its answer lost.
func newFaults(seed int64) *dynamotest.Faults {
	return &dynamotest.Faults{Throttle: 0.1, ServerError: 0.08, LostResponse: 0.15, Seed: uint64(seed)}
}

// patientRetries lets the SDK retry a faulty request until it gets through,
// as it would against a briefly unhealthy DynamoDB: the store must cope with
// re-sent requests, not with giving up.
func patientRetries(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 20
		so.MaxBackoff = 5 * time.Millisecond
		so.RateLimiter = ratelimit.None
	})
}

// TestConformanceUnderFaults runs the conformance and race cases with
// throttling, server errors and timeouts after commit injected into a third
// of all writes. The round-trip budget is left out: retries cost requests.
func TestConformanceUnderFaults(t *testing.T) {
	faultsOn.Store(true)
	defer faultsOn.Store(false)
	cases := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"deploy rules", TestDeployRules},
		{"tag rules", TestTagRules},
		{"delete rules", TestDeleteRules},
		{"rollback", TestRollback},
		{"history", TestHistory},
		{"reads", TestResolveAndReads},
		{"refused changes commit nothing", TestRefusedTagChangesCommitNothing},
		{"If-Match", TestIfMatchLetsOneWriterPerRevision},
		{"rollback races", TestRollbackAppliesToTheStateItRead},
		{"responses", TestTagResponsesReportWhatWasCommitted},
		{"concurrent moves", TestConcurrentTagMovesAreAtomic},
		{"deletes racing moves", TestDeletesRacingTagMovesLeaveNoTagOnADeletedVersion},
		{"linearizability", TestTagChangesAreLinearizable},
		{"nothing lost or duplicated", testNothingLostOrDuplicated},
	}
	for _, c := range cases {
		t.Run(c.name, c.fn)
	}
}

// testNothingLostOrDuplicated runs a sequential mix of deploys, moves,
// rollbacks, untags and deletes under faults, then checks the table: versions
// dense and unique, one version per deploy (each deploy's description is
// unique), every acknowledged change present, every route equal to its newest
// history record, no tag on a deleted version.
func testNothingLostOrDuplicated(t *testing.T) {
	forEachEngine(t, func(t *testing.T, f *fixture) {
		const flow = "faulty"
		deployed := map[int]string{}
		deleted := map[int]bool{}
		for i := range 40 {
			desc := fmt.Sprintf("deploy-%d", i)
			tag := []string{"", "canary", "bench"}[i%3]
			d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:faulty", Tag: tag, Exclusive: tag == "canary", Stack: "dev", Description: desc})
			if err != nil {
				t.Fatalf("deploy %d: %v", i, err)
			}
			deployed[d.Version] = desc
			if i < 2 {
				continue
			}
			var opErr error
			switch i % 5 {
			case 0:
				_, opErr = putTag(f, flow, "stable", 1+i%len(deployed), true)
			case 1:
				_, opErr = f.store.RollbackTag(ctx, project, flow, "stable", "tester")
			case 2:
				opErr = f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "bench", Version: d.Version - 1})
			case 3:
				if v := d.Version - 2; !deleted[v] {
					if opErr = f.store.DeleteDeployment(ctx, project, flow, v, "tester"); opErr == nil {
						deleted[v] = true
					}
				}
			case 4:
				_, opErr = putTag(f, flow, "bench", d.Version-3, false)
			}
			if opErr != nil && !errors.Is(opErr, registry.ErrConflict) && !errors.Is(opErr, registry.ErrNotFound) {
				t.Fatalf("op %d: %v", i, opErr)
			}
		}
		checkTable(t, f, flow, deployed, deleted)
	})
}

func checkTable(t *testing.T, f *fixture, flow string, deployed map[int]string, deleted map[int]bool) {
	t.Helper()
	seen := map[string]int{}
	present := map[int]bool{}
	token := ""
	for {
		p, err := f.store.ListDeployments(ctx, project, flow, registry.PageRequest{Limit: registry.MaxPageSize, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Items {
			if other, dup := seen[d.Description]; dup {
				t.Fatalf("one deploy (%q) made two versions: v%d and v%d", d.Description, other, d.Version)
			}
			seen[d.Description], present[d.Version] = d.Version, true
		}
		if token = p.NextToken; token == "" {
			break
		}
	}
	for v := 1; v <= len(deployed); v++ {
		desc, ok := deployed[v]
		switch {
		case !ok:
			t.Fatalf("versions are not dense: no deploy was acknowledged as v%d (acknowledged: %v)", v, deployed)
		case deleted[v] && present[v]:
			t.Fatalf("v%d was deleted but is still there", v)
		case !deleted[v] && seen[desc] != v:
			t.Fatalf("acknowledged deploy %q (v%d) is lost", desc, v)
		}
	}
	if len(present) != len(deployed)-len(deleted) {
		t.Fatalf("%d versions stored, want %d", len(present), len(deployed)-len(deleted))
	}
	fs, err := f.store.GetFlow(ctx, project, flow)
	if err != nil || fs.DeploymentCount != len(present) {
		t.Fatalf("flow summary counts %d deployments, %d stored (%v)", fs.DeploymentCount, len(present), err)
	}
	for tag, vs := range fs.Tags {
		for _, v := range vs {
			if !present[v] {
				t.Fatalf("tag %s is on v%d, which does not exist", tag, v)
			}
		}
		if len(vs) == 1 {
			h, err := f.store.TagHistory(ctx, project, flow, tag, registry.PageRequest{Limit: 1})
			if err != nil || h.Items[0].To == nil || (h.Items[0].Exclusive && *h.Items[0].To != vs[0]) {
				t.Fatalf("tag %s is on %v but its newest history record is %+v (%v)", tag, vs, h.Items, err)
			}
		}
	}
}

// TestThrottledWritesFailUnavailable: when the engine keeps throttling and the
// SDK gives up, writes answer unavailable (503, retry), not internal.
func TestThrottledWritesFailUnavailable(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e)
			deploy(t, f, "thr", "", false)
			deploy(t, f, "thr", "", false)
			faults := &dynamotest.Faults{Throttle: 1}
			db, err := newClient(e.endpoint, faults.Option(), func(o *dynamodb.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 2) })
			if err != nil {
				t.Fatal(err)
			}
			throttled := newStore(db, f.table)
			_, err = throttled.PutTag(ctx, registry.TagRequest{Project: project, Flow: "thr", Tag: "stable", Version: 1, Exclusive: true})
			wantCode(t, err, registry.CodeUnavailable, "retry")
			_, err = throttled.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "thr", Entrypoint: "f.py:thr", Stack: "dev"})
			wantCode(t, err, registry.CodeUnavailable, "retry")
			wantCode(t, throttled.DeleteDeployment(ctx, project, "thr", 1, "x"), registry.CodeUnavailable, "retry")
		})
	}
}
