package devstack

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestEveryRecordedOutcomeWakesTheWaiters checks both writes that end an
// execution: FinishExecution (a run's finish, a cancel, a failed start) and
// ReapExecution (the reaper). A waiter the write did not wake would answer
// running when its 20 s wait passed.
func TestEveryRecordedOutcomeWakesTheWaiters(t *testing.T) {
	tbl := dynamotest.New(t)
	s := newNotifyingStore(dynamo.New(tbl.DB, tbl.Name))
	ctx := context.Background()
	outcome := registry.Outcome{Status: registry.StatusFailed, At: time.Now().UTC(), Error: &registry.ExecError{Type: "Runner.Lost", Message: "lost"}}
	for _, c := range []struct {
		name   string
		record func(e registry.Execution) error
	}{
		{"finish", func(e registry.Execution) error {
			_, _, err := s.FinishExecution(ctx, e.Project, e.ExecID, outcome)
			return err
		}},
		{"reap", func(e registry.Execution) error {
			_, _, err := s.ReapExecution(ctx, e, outcome)
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, _, err := s.CreateExecution(ctx, registry.Execution{
				Project: Project, ExecID: "ex_" + c.name, Flow: "f", Version: 1, Snapshot: registry.SnapshotName("f", 1),
				Status: registry.StatusRunning, Inputs: json.RawMessage(`{}`),
			})
			if err != nil {
				t.Fatal(err)
			}
			until := time.Now().Add(20 * time.Second)
			got := make(chan registry.Execution, 1)
			go func() {
				w, err := s.hub.Wait(ctx, e.Project, e.ExecID, until)
				if err != nil {
					t.Error(err)
				}
				got <- w
			}()
			for s.hub.Waiting() == 0 {
				time.Sleep(5 * time.Millisecond)
			}
			if err := c.record(e); err != nil {
				t.Fatal(err)
			}
			if w := <-got; w.Status != registry.StatusFailed || !time.Now().Before(until) {
				t.Errorf("the waiter got %s; want failed before its wait passed", w.Status)
			}
		})
	}
}
