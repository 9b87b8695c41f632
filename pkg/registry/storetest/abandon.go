package storetest

import (
	"errors"
	"slices"
	"sync"
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
		if err := s.AbandonExecution(ctx, e.Project, e.ExecID, 1); err != nil {
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
		wantCode(t, s.AbandonExecution(ctx, project, e.ExecID, 1), registry.CodeConflict, "completed")
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

// testStartClaims: a replay that claims an execution's start keeps the
// request that recorded it from abandoning it; the latest claim alone may
// (docs/executions.md, "A replay racing the abandon").
func testStartClaims(t *testing.T, f *fixture) {
	s := open(t, f.engine, newTestClock().Now).store
	t.Run("a replay's claim keeps the execution from the recorder's abandon, and only the latest claim abandons", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "claimed", "claim-key-1"))
		for want := 2; want <= 3; want++ {
			if claim, err := s.ClaimStart(ctx, project, e.ExecID); err != nil || claim != want {
				t.Fatalf("claim = %d, %v; want %d", claim, err, want)
			}
		}
		for _, stale := range []int{1, 2} {
			wantCode(t, s.AbandonExecution(ctx, project, e.ExecID, stale), registry.CodeConflict, "later request")
		}
		if got := getExec(t, s, project, e.ExecID); got.Status != registry.StatusRunning {
			t.Fatalf("status %s after refused abandons, want running", got.Status)
		}
		replay, created, err := s.CreateExecution(ctx, runningExec(project, "claimed", "claim-key-1"))
		if err != nil || created || replay.ExecID != e.ExecID {
			t.Fatalf("replay: created=%v exec=%s err=%v, want the key to still name %s", created, replay.ExecID, err, e.ExecID)
		}
		if err := s.AbandonExecution(ctx, project, e.ExecID, 3); err != nil {
			t.Fatalf("the latest claim's abandon: %v", err)
		}
		_, err = s.GetExecution(ctx, project, e.ExecID)
		wantCode(t, err, registry.CodeNotFound)
	})
	t.Run("claiming an execution that ended is a conflict, one never recorded or abandoned not_found", func(t *testing.T) {
		ended := createExec(t, s, runningExec(project, "claim_ended", ""))
		if _, _, err := s.FinishExecution(ctx, project, ended.ExecID, registry.Outcome{Status: registry.StatusFailed, Error: &registry.ExecError{Type: "Boom"}}); err != nil {
			t.Fatal(err)
		}
		_, err := s.ClaimStart(ctx, project, ended.ExecID)
		wantCode(t, err, registry.CodeConflict, "failed")
		_, err = s.ClaimStart(ctx, project, runningExec(project, "claim_ended", "").ExecID)
		wantCode(t, err, registry.CodeNotFound)
		gone := createExec(t, s, runningExec(project, "claim_ended", ""))
		if err := s.AbandonExecution(ctx, project, gone.ExecID, 1); err != nil {
			t.Fatal(err)
		}
		_, err = s.ClaimStart(ctx, project, gone.ExecID)
		wantCode(t, err, registry.CodeNotFound)
		_, err = s.ClaimStart(ctx, "other-project", ended.ExecID)
		wantCode(t, err, registry.CodeNotFound)
	})
	t.Run("a claim racing the recorder's abandon: exactly one of them wins", func(t *testing.T) {
		const rounds = 40
		claimsWon := 0
		for range rounds {
			e := createExec(t, s, runningExec(project, "claim_race", nextExecID()))
			var claimErr, abandonErr error
			var wg sync.WaitGroup
			wg.Go(func() { _, claimErr = s.ClaimStart(ctx, project, e.ExecID) })
			wg.Go(func() { abandonErr = s.AbandonExecution(ctx, project, e.ExecID, 1) })
			wg.Wait()
			_, readErr := s.GetExecution(ctx, project, e.ExecID)
			switch {
			case claimErr == nil && errors.Is(abandonErr, registry.ErrConflict) && readErr == nil:
				claimsWon++
			case errors.Is(claimErr, registry.ErrNotFound) && abandonErr == nil && errors.Is(readErr, registry.ErrNotFound):
			default:
				t.Fatalf("claim: %v, abandon: %v, read: %v; want the claim to keep the execution or the abandon to remove it before the claim", claimErr, abandonErr, readErr)
			}
		}
		t.Logf("%d of %d claims won the race", claimsWon, rounds)
	})
}

// testAbandonRoundTrips: an abandon is a read and one transaction.
func testAbandonRoundTrips(t *testing.T, f *fixture) {
	e := runningExec(project, "abandon_trips", "abandon-key")
	checkTrips(t, f, false, []tripCase{
		// With an Idempotency-Key a create is 2 requests (testExecutionRoundTrips).
		{"creating the execution with its key takes 2 requests", 2, func() error { _, _, err := f.store.CreateExecution(ctx, e); return err }},
		{"a replay's start claim takes 1 request", 1, func() error { _, err := f.store.ClaimStart(ctx, project, e.ExecID); return err }},
		{"abandoning it takes 2 requests", 2, func() error { return f.store.AbandonExecution(ctx, project, e.ExecID, 2) }},
	})
}
