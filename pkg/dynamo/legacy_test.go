package dynamo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/registry/storetest"
)

// The DynamoDB-only cases: what the suite cannot set up through the store.

// TestAStaleIndexEntryIsDroppedByTheReaper: a finish of an older build ended
// the record without deleting its running-index entry; the reaper drops the
// entry and leaves the record as it is.
func TestAStaleIndexEntryIsDroppedByTheReaper(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			started := time.Now().Add(-2 * time.Hour)
			ex := registry.Execution{ExecID: "ex_01stale0index0entry0000000", Project: project, Flow: "reaped", Version: 1, Status: registry.StatusRunning, StartedAt: started}
			if _, _, err := f.store.CreateExecution(ctx, ex); err != nil {
				t.Fatal(err)
			}
			if _, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(f.table),
				Key:                       keyOf("P#"+project+"#E#"+ex.ExecID, "EXEC"),
				UpdateExpression:          aws.String("SET #s = :done"),
				ExpressionAttributeNames:  map[string]string{"#s": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":done": &types.AttributeValueMemberS{Value: "completed"}},
			}); err != nil {
				t.Fatal(err)
			}
			overdue := func() []string { return overdueIDs(t, f) }
			if !slices.Contains(overdue(), ex.ExecID) {
				t.Fatal("the stale entry is not indexed; the test sets up nothing")
			}
			lost := registry.Outcome{Status: registry.StatusFailed, Error: &registry.ExecError{Type: "Runner.Lost", Message: "lost"}}
			if got, reaped, err := f.store.ReapExecution(ctx, ex, lost); err != nil || reaped || got.Status != registry.StatusCompleted {
				t.Fatalf("reap: reaped=%v err=%v status %s", reaped, err, got.Status)
			}
			if got := overdue(); slices.Contains(got, ex.ExecID) {
				t.Fatalf("index still holds %v", got)
			}
		})
	}
}

// overdueIDs lists the exec ids the running index holds, started before now.
func overdueIDs(t *testing.T, f *fixture) []string {
	t.Helper()
	got, err := f.store.RunningStartedBefore(ctx, time.Now(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.ExecID)
	}
	return ids
}

func TestEngineFailuresAreUnavailable(t *testing.T) {
	dead := dynamo.New(deadClient(t), "kitaru-test-dead")
	ops := map[string]func() error{
		"deploy": func() error {
			_, err := dead.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "f", Entrypoint: "f.py:f", Stack: "dev"})
			return err
		},
		"tag move": func() error {
			_, err := dead.PutTag(ctx, registry.TagRequest{Project: project, Flow: "f", Tag: "stable", Version: 1, Exclusive: true})
			return err
		},
		"untag": func() error {
			return dead.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "f", Tag: "stable", Version: 1})
		},
		"rollback": func() error { _, err := dead.RollbackTag(ctx, project, "f", "stable", "x"); return err },
		"delete":   func() error { return dead.DeleteDeployment(ctx, project, "f", 1, "x") },
		"resolve":  func() error { _, err := dead.Resolve(ctx, project, "f", registry.Selector{}); return err },
		"get flow": func() error { _, err := dead.GetFlow(ctx, project, "f"); return err },
		"history": func() error {
			_, err := dead.TagHistory(ctx, project, "f", "stable", registry.PageRequest{})
			return err
		},
		"get execution": func() error { _, err := dead.GetExecution(ctx, project, "ex_1"); return err },
		"list executions": func() error {
			_, err := dead.ListExecutions(ctx, project, "f", registry.PageRequest{})
			return err
		},
		"get API key":   func() error { _, err := dead.GetKey(ctx, "k1"); return err },
		"list API keys": func() error { _, err := dead.ListKeys(ctx); return err },
	}
	for name, op := range ops {
		t.Run(name+" answers unavailable when the engine cannot be reached", func(t *testing.T) {
			storetest.WantCode(t, op(), registry.CodeUnavailable, "retry")
		})
	}
}
