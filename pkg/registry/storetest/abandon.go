package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// testAbandonExecution: an execution whose start Step Functions refused is
// removed as if never invoked (docs/executions.md, "When Step Functions
// throttles").
func testAbandonExecution(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := open(t, f.engine, clock.Now).store
	abandon := func(t *testing.T, e registry.Execution) {
		t.Helper()
		if err := s.AbandonExecution(ctx, e.Project, e.ExecID); err != nil {
			t.Fatalf("abandon %s: %v", e.ExecID, err)
		}
	}
	t.Run("an abandoned execution is not readable, not listed, not running, and its key is free", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "abandoned", "key-1"))
		abandon(t, e)
		_, err := s.GetExecution(ctx, project, e.ExecID)
		wantCode(t, err, registry.CodeNotFound)
		if p, err := s.ListExecutions(ctx, project, e.Flow, registry.PageRequest{Limit: registry.MaxPageSize}); err != nil || len(p.Items) != 0 {
			t.Fatalf("listed %v (err %v), want none", execIDs(p.Items), err)
		}
		running, err := s.RunningStartedBefore(ctx, clock.Now().Add(time.Hour), 100)
		if err != nil || slices.Contains(execIDs(running), e.ExecID) {
			t.Fatalf("running index holds %v (err %v), want no %s", execIDs(running), err, e.ExecID)
		}
		again := createExec(t, s, runningExec(project, "abandoned", "key-1"))
		if again.ExecID == e.ExecID {
			t.Fatalf("the key still names %s", e.ExecID)
		}
	})
	t.Run("abandoning twice, or an execution never recorded, is not an error", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "abandoned_twice", ""))
		abandon(t, e)
		abandon(t, e)
		abandon(t, runningExec(project, "abandoned_twice", ""))
	})
	t.Run("an execution that ended is kept and abandoning it is a conflict", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "ended", "key-2"))
		if _, _, err := s.FinishExecution(ctx, project, e.ExecID, registry.Outcome{Status: registry.StatusCompleted, At: clock.Now()}); err != nil {
			t.Fatalf("finish: %v", err)
		}
		wantCode(t, s.AbandonExecution(ctx, project, e.ExecID), registry.CodeConflict, "completed")
		if got := getExec(t, s, project, e.ExecID); got.Status != registry.StatusCompleted {
			t.Fatalf("status %s, want completed", got.Status)
		}
		listedExec(t, s, e)
		replay, created, err := s.CreateExecution(ctx, runningExec(project, "ended", "key-2"))
		if err != nil || created || replay.ExecID != e.ExecID {
			t.Fatalf("replay: created=%v exec=%s err=%v, want the key to still name %s", created, replay.ExecID, err, e.ExecID)
		}
	})
	t.Run("a key another execution took over after its window stays with that execution", func(t *testing.T) {
		old := createExec(t, s, runningExec(project, "taken_over", "key-3"))
		clock.Advance(registry.IdempotencyWindow + time.Minute)
		successor := createExec(t, s, runningExec(project, "taken_over", "key-3"))
		abandon(t, old)
		_, err := s.GetExecution(ctx, project, old.ExecID)
		wantCode(t, err, registry.CodeNotFound)
		replay, created, err := s.CreateExecution(ctx, runningExec(project, "taken_over", "key-3"))
		if err != nil || created || replay.ExecID != successor.ExecID {
			t.Fatalf("replay: created=%v exec=%s err=%v, want the key to name %s", created, replay.ExecID, err, successor.ExecID)
		}
	})
}

// testAbandonRoundTrips: an abandon is a read and one transaction.
func testAbandonRoundTrips(t *testing.T, f *fixture) {
	e := runningExec(project, "abandon_trips", "abandon-key")
	checkTrips(t, f, false, []tripCase{
		// With an Idempotency-Key a create is 2 requests (testExecutionRoundTrips).
		{"creating the execution with its key takes 2 requests", 2, func() error { _, _, err := f.store.CreateExecution(ctx, e); return err }},
		{"abandoning it takes 2 requests", 2, func() error { return f.store.AbandonExecution(ctx, project, e.ExecID) }},
	})
}
