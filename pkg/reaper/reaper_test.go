package reaper_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/reaper"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

var _ reaper.Store = (*dynamo.Store)(nil)

// clock is a movable time source shared by the store and the reaper.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

// forEachEngine runs fn on a fresh table of minidyn (in process) and, when
// DYNAMODB_ENDPOINT names one, of DynamoDB Local, with stores on clock c.
func forEachEngine(t *testing.T, fn func(t *testing.T, s *dynamo.Store, c *clock)) {
	t.Run("minidyn", func(t *testing.T) {
		c := &clock{now: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)}
		tbl := dynamotest.New(t)
		fn(t, dynamo.New(tbl.DB, tbl.Name, dynamo.WithClock(c.Now)), c)
	})
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("KITARU_REQUIRE_DYNAMODB_LOCAL") != "" {
			t.Fatal("KITARU_REQUIRE_DYNAMODB_LOCAL is set but DYNAMODB_ENDPOINT is not: start scripts/dynamodb-local.sh")
		}
		return
	}
	t.Run("dynamodb-local", func(t *testing.T) {
		c := &clock{now: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)}
		ctx := context.Background()
		db, err := defaultconfig.NewClient(ctx, endpoint)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("reaper-test-%d", time.Now().UnixNano())
		if err := dynamo.CreateTable(ctx, db, name); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &name}) })
		fn(t, dynamo.New(db, name, dynamo.WithClock(c.Now)), c)
	})
}

func record(t *testing.T, s *dynamo.Store, project, id string) registry.Execution {
	t.Helper()
	e, created, err := s.CreateExecution(context.Background(), registry.Execution{
		Project: project, ExecID: id, Flow: "sleeper", Version: 1, Snapshot: registry.SnapshotName("sleeper", 1),
		Status: registry.StatusRunning, Inputs: json.RawMessage(`{}`),
	})
	if err != nil || !created {
		t.Fatalf("record %s: created=%v err=%v", id, created, err)
	}
	return e
}

func TestReaperEndsLostExecutions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *dynamo.Store, c *clock) {
		ctx := context.Background()
		after := reaper.Deadline(workflow.Default())
		r := &reaper.Reaper{Store: s, After: after, Now: c.Now}
		lost := record(t, s, "team-a", "ex_lost")
		lostElsewhere := record(t, s, "team-b", "ex_lost_b")
		c.Advance(after - time.Minute)
		young := record(t, s, "team-a", "ex_young")
		c.Advance(2 * time.Minute)

		t.Run("executions running past the deadline end failed with Runner.Lost, in every project", func(t *testing.T) {
			rep, err := r.Reap(ctx)
			if err != nil || rep != (reaper.Report{Found: 2, Reaped: 2}) {
				t.Fatalf("pass: %+v, %v; want 2 found and reaped", rep, err)
			}
			for _, e := range []registry.Execution{lost, lostElsewhere} {
				got, err := s.GetExecution(ctx, e.Project, e.ExecID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != registry.StatusFailed || got.Error == nil || got.Error.Type != workflow.ErrorRunnerLost || got.EndedAt == nil {
					t.Fatalf("%s: %+v, want failed Runner.Lost", e.ExecID, got)
				}
				for _, says := range []string{"still recorded running 1h19m15s after it started", "stopped without recording an outcome", "invoke it again"} {
					if !strings.Contains(got.Error.Message, says) {
						t.Fatalf("message %q does not say %q", got.Error.Message, says)
					}
				}
			}
		})
		t.Run("an execution younger than the deadline stays running", func(t *testing.T) {
			if got, _ := s.GetExecution(ctx, young.Project, young.ExecID); got.Status != registry.StatusRunning {
				t.Fatalf("young execution is %s", got.Status)
			}
		})
		t.Run("a second pass finds nothing", func(t *testing.T) {
			if rep, err := r.Reap(ctx); err != nil || rep != (reaper.Report{}) {
				t.Fatalf("second pass: %+v, %v", rep, err)
			}
		})
		t.Run("a finish arriving after the reaper changes nothing", func(t *testing.T) {
			if err := workflow.StoreFinisher(s).Finish(ctx, lost.Project, lost.ExecID, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`1`)}); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.GetExecution(ctx, lost.Project, lost.ExecID); got.Status != registry.StatusFailed || got.Result != nil {
				t.Fatalf("after a late finish: %+v", got)
			}
		})
		t.Run("an execution that finished before its deadline is never reaped", func(t *testing.T) {
			if err := workflow.StoreFinisher(s).Finish(ctx, young.Project, young.ExecID, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`2`)}); err != nil {
				t.Fatal(err)
			}
			c.Advance(24 * time.Hour)
			if rep, err := r.Reap(ctx); err != nil || rep != (reaper.Report{}) {
				t.Fatalf("pass: %+v, %v", rep, err)
			}
			if got, _ := s.GetExecution(ctx, young.Project, young.ExecID); got.Status != registry.StatusCompleted {
				t.Fatalf("finished execution is %s", got.Status)
			}
		})
		t.Run("the batch bounds a pass and the next pass takes the rest", func(t *testing.T) {
			for i := range 5 {
				record(t, s, "team-c", fmt.Sprintf("ex_batch_%d", i))
			}
			c.Advance(after + time.Second)
			small := &reaper.Reaper{Store: s, After: after, Now: c.Now, Batch: 3}
			first, err1 := small.Reap(ctx)
			second, err2 := small.Reap(ctx)
			if err1 != nil || err2 != nil || first.Reaped != 3 || second.Reaped != 2 {
				t.Fatalf("passes %+v (%v), %+v (%v); want 3 then 2", first, err1, second, err2)
			}
		})
	})
}

func TestReaperRefusesANonPositiveDeadline(t *testing.T) {
	r := &reaper.Reaper{Store: nil, After: 0}
	if _, err := r.Reap(context.Background()); registry.CodeOf(err) != registry.CodeInvalidArgument {
		t.Fatalf("Reap with After 0: %v, want invalid_argument", err)
	}
}

func TestDeadlineIsTheWorkflowsLongestRunPlusSlack(t *testing.T) {
	if got, want := reaper.Deadline(workflow.Default()), 78*time.Minute+15*time.Second; got != want {
		t.Fatalf("Deadline = %s, want %s", got, want)
	}
}

func TestAReapedExecutionsRunObjectIsDeleted(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *dynamo.Store, c *clock) {
		ctx := context.Background()
		srv, err := localblob.Start("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		objects := &artifacts.Store{Blobs: srv.Store()}
		after := reaper.Deadline(workflow.Default())
		r := &reaper.Reaper{Store: s, After: after, Now: c.Now, RunObjects: objects}
		lost := record(t, s, "team-a", "ex_lost_with_object")
		if _, err := objects.PutRunObject(ctx, lost.Project, lost.ExecID, workflow.RunObject{Secrets: map[string]string{"K": "v"}}, time.Minute); err != nil {
			t.Fatal(err)
		}
		c.Advance(after + time.Minute)
		if rep, err := r.Reap(ctx); err != nil || rep.Reaped != 1 {
			t.Fatalf("pass: %+v, %v; want one reaped", rep, err)
		}
		if _, exists, err := srv.Store().Stat(ctx, artifacts.RunObjectKey(lost.Project, lost.ExecID)); err != nil || exists {
			t.Errorf("the reaped execution's run object is still stored (%v)", err)
		}
	})
}
