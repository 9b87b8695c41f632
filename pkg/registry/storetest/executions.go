package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kitaru/deployments/pkg/registry"
)

// execSeq numbers test execution ids. Real ids are `ex_` + a ULID; these sort
// the same way (by creation order), which the listing relies on.
var execSeq atomic.Int64

func nextExecID() string { return fmt.Sprintf("ex_%026d", execSeq.Add(1)) }

// testClock is an injectable, movable time source.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func runningExec(proj, flow, key string) registry.Execution {
	return registry.Execution{
		Project: proj, ExecID: nextExecID(), Flow: flow, Version: 2, Snapshot: registry.SnapshotName(flow, 2),
		Selector: registry.Selector{Tag: "stable"}, Status: registry.StatusRunning,
		Inputs: json.RawMessage(`{"topic":"routing","n":12345678901234567890123}`), InvokedBy: "tester", IdempotencyKey: key,
	}
}

func createExec(t *testing.T, s Store, e registry.Execution) registry.Execution {
	t.Helper()
	got, created, err := s.CreateExecution(ctx, e)
	if err != nil || !created {
		t.Fatalf("create %s on %s: created=%v err=%v", e.ExecID, e.Flow, created, err)
	}
	return got
}

func getExec(t *testing.T, s Store, proj, execID string) registry.Execution {
	t.Helper()
	e, err := s.GetExecution(ctx, proj, execID)
	if err != nil {
		t.Fatalf("get %s: %v", execID, err)
	}
	return e
}

// listedExec finds an execution's listing copy in its flow's list.
func listedExec(t *testing.T, s Store, e registry.Execution) registry.Execution {
	t.Helper()
	p, err := s.ListExecutions(ctx, e.Project, e.Flow, registry.PageRequest{Limit: registry.MaxPageSize})
	if err != nil {
		t.Fatalf("list %s: %v", e.Flow, err)
	}
	for _, x := range p.Items {
		if x.ExecID == e.ExecID {
			return x
		}
	}
	t.Fatalf("execution %s is not listed under %s", e.ExecID, e.Flow)
	return registry.Execution{}
}

func execIDs(es []registry.Execution) []string {
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ExecID
	}
	return ids
}

func testExecutionRecords(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := open(t, f.engine, clock.Now).store
	t.Run("create then get returns the same running execution with exact inputs", func(t *testing.T) {
		e := runningExec(project, "recorded", "")
		got := createExec(t, s, e)
		want := e
		want.StartedAt = clock.Now()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("created (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, getExec(t, s, project, e.ExecID)); diff != "" {
			t.Fatalf("read back (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, listedExec(t, s, e)); diff != "" {
			t.Fatalf("listing copy (-want +got):\n%s", diff)
		}
	})
	t.Run("the listing is newest first, paged, with no token on an exactly full last page", func(t *testing.T) {
		var ids []string
		for range 6 {
			ids = append([]string{createExec(t, s, runningExec(project, "listed", "")).ExecID}, ids...)
		}
		createExec(t, s, runningExec(project, "listed_neighbour", ""))
		for _, limit := range []int{3, 4, 6} {
			var got []string
			token, pages := "", 0
			for {
				p, err := s.ListExecutions(ctx, project, "listed", registry.PageRequest{Limit: limit, Token: token})
				if err != nil {
					t.Fatalf("limit %d page %d: %v", limit, pages, err)
				}
				pages++
				got = append(got, execIDs(p.Items)...)
				if token = p.NextToken; token == "" {
					break
				}
				if pages > 6 {
					t.Fatalf("limit %d: paging does not end", limit)
				}
			}
			if diff := cmp.Diff(ids, got); diff != "" {
				t.Fatalf("limit %d (-want +got):\n%s", limit, diff)
			}
			if wantPages := (len(ids) + limit - 1) / limit; pages != wantPages {
				t.Fatalf("limit %d took %d pages, want %d (an exactly full last page must carry no next_token)", limit, pages, wantPages)
			}
		}
	})
	t.Run("a flow without executions lists empty", func(t *testing.T) {
		p, err := s.ListExecutions(ctx, project, "never_invoked", registry.PageRequest{})
		if err != nil || len(p.Items) != 0 || p.NextToken != "" {
			t.Fatalf("got %+v %v", p, err)
		}
	})
	t.Run("a next_token from another list or garbage is invalid_argument", func(t *testing.T) {
		p, err := s.ListExecutions(ctx, project, "listed", registry.PageRequest{Limit: 1})
		if err != nil || p.NextToken == "" {
			t.Fatalf("first page %+v %v", p, err)
		}
		_, err = s.ListExecutions(ctx, project, "listed_neighbour", registry.PageRequest{Token: p.NextToken})
		wantCode(t, err, registry.CodeInvalidArgument, "next_token")
		_, err = s.ListExecutions(ctx, "other", "listed", registry.PageRequest{Token: p.NextToken})
		wantCode(t, err, registry.CodeInvalidArgument, "next_token")
		_, err = s.ListExecutions(ctx, project, "listed", registry.PageRequest{Token: "not-a-token"})
		wantCode(t, err, registry.CodeInvalidArgument, "next_token")
	})
	t.Run("another project's execution is not_found", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "isolated", ""))
		_, err := s.GetExecution(ctx, "other", e.ExecID)
		wantCode(t, err, registry.CodeNotFound, "list the flow's executions")
		_, _, err = s.FinishExecution(ctx, "other", e.ExecID, registry.Outcome{Status: registry.StatusCancelled})
		wantCode(t, err, registry.CodeNotFound)
		p, err := s.ListExecutions(ctx, "other", "isolated", registry.PageRequest{})
		if err != nil || len(p.Items) != 0 {
			t.Fatalf("other project lists %+v %v", p.Items, err)
		}
		if got := getExec(t, s, project, e.ExecID); got.Status != registry.StatusRunning {
			t.Fatalf("the other project's finish changed the execution: %+v", got)
		}
	})
	t.Run("a missing execution is not_found", func(t *testing.T) {
		_, err := s.GetExecution(ctx, project, "ex_missing")
		wantCode(t, err, registry.CodeNotFound, "ex_missing")
		_, _, err = s.FinishExecution(ctx, project, "ex_missing", registry.Outcome{Status: registry.StatusCompleted})
		wantCode(t, err, registry.CodeNotFound)
	})
	t.Run("invalid new executions are invalid_argument", func(t *testing.T) {
		for name, mutate := range map[string]func(*registry.Execution){
			"not running":        func(e *registry.Execution) { e.Status = registry.StatusCompleted },
			"no status":          func(e *registry.Execution) { e.Status = "" },
			"no exec id":         func(e *registry.Execution) { e.ExecID = "" },
			"bad flow":           func(e *registry.Execution) { e.Flow = "a::b" },
			"bad project":        func(e *registry.Execution) { e.Project = "Upper Case" },
			"no version":         func(e *registry.Execution) { e.Version = 0 },
			"inputs not JSON":    func(e *registry.Execution) { e.Inputs = json.RawMessage(`{"a":`) },
			"key over 255 bytes": func(e *registry.Execution) { e.IdempotencyKey = string(make([]byte, 256)) },
		} {
			e := runningExec(project, "invalid", "")
			mutate(&e)
			_, _, err := s.CreateExecution(ctx, e)
			if registry.CodeOf(err) != registry.CodeInvalidArgument {
				t.Errorf("%s: got %v, want invalid_argument", name, err)
			}
		}
	})
	t.Run("an exec id that is already recorded is a conflict", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "dup_id", ""))
		_, _, err := s.CreateExecution(ctx, e)
		wantCode(t, err, registry.CodeConflict, e.ExecID)
	})
}

func testExecutionIdempotency(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := open(t, f.engine, clock.Now).store
	t.Run("the same idempotency key twice gives one execution", func(t *testing.T) {
		first := createExec(t, s, runningExec(project, "idem", "key-1"))
		retry := runningExec(project, "idem", "key-1")
		got, created, err := s.CreateExecution(ctx, retry)
		if err != nil || created || got.ExecID != first.ExecID {
			t.Fatalf("replay: created=%v exec=%s err=%v, want created=false exec=%s", created, got.ExecID, err, first.ExecID)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Fatalf("replay returned (-want +got):\n%s", diff)
		}
		_, err = s.GetExecution(ctx, project, retry.ExecID)
		wantCode(t, err, registry.CodeNotFound)
		if p, _ := s.ListExecutions(ctx, project, "idem", registry.PageRequest{}); len(p.Items) != 1 {
			t.Fatalf("listed %v, want only %s", execIDs(p.Items), first.ExecID)
		}
	})
	t.Run("sixteen concurrent creates with one key make exactly one execution", func(t *testing.T) {
		const n = 16
		got := make([]registry.Execution, n)
		created := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				got[i], created[i], errs[i] = s.CreateExecution(ctx, runningExec(project, "idem_race", "race-key"))
			})
		}
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("create %d: %v", i, errs[i])
			}
			if created[i] {
				winners++
			}
			if got[i].ExecID != got[0].ExecID {
				t.Fatalf("create %d got %s, create 0 got %s", i, got[i].ExecID, got[0].ExecID)
			}
		}
		if winners != 1 {
			t.Fatalf("%d creates reported created=true, want exactly 1", winners)
		}
		p, err := s.ListExecutions(ctx, project, "idem_race", registry.PageRequest{})
		if err != nil || len(p.Items) != 1 || p.Items[0].ExecID != got[0].ExecID {
			t.Fatalf("listed %v %v, want only %s", execIDs(p.Items), err, got[0].ExecID)
		}
	})
	t.Run("the same key on another flow or project makes separate executions", func(t *testing.T) {
		a := createExec(t, s, runningExec(project, "idem_a", "shared-key"))
		b := createExec(t, s, runningExec(project, "idem_b", "shared-key"))
		c := createExec(t, s, runningExec("other", "idem_a", "shared-key"))
		if a.ExecID == b.ExecID || a.ExecID == c.ExecID || b.ExecID == c.ExecID {
			t.Fatalf("executions share ids: %s %s %s", a.ExecID, b.ExecID, c.ExecID)
		}
		got, created, err := s.CreateExecution(ctx, runningExec("other", "idem_a", "shared-key"))
		if err != nil || created || got.ExecID != c.ExecID {
			t.Fatalf("replay in the other project: created=%v exec=%s err=%v, want %s", created, got.ExecID, err, c.ExecID)
		}
	})
	t.Run("an expired idempotency key makes a new execution", func(t *testing.T) {
		old := createExec(t, s, runningExec(project, "idem_ttl", "day-key"))
		clock.Advance(registry.IdempotencyWindow - time.Minute)
		if got, created, err := s.CreateExecution(ctx, runningExec(project, "idem_ttl", "day-key")); err != nil || created || got.ExecID != old.ExecID {
			t.Fatalf("inside the window: created=%v exec=%s err=%v, want %s", created, got.ExecID, err, old.ExecID)
		}
		clock.Advance(2 * time.Minute)
		fresh := createExec(t, s, runningExec(project, "idem_ttl", "day-key"))
		if fresh.ExecID == old.ExecID {
			t.Fatalf("the expired key returned the old execution %s", old.ExecID)
		}
		if got, created, err := s.CreateExecution(ctx, runningExec(project, "idem_ttl", "day-key")); err != nil || created || got.ExecID != fresh.ExecID {
			t.Fatalf("after renewal: created=%v exec=%s err=%v, want %s", created, got.ExecID, err, fresh.ExecID)
		}
		getExec(t, s, project, old.ExecID) // the old execution is still there
	})
}

func testFinishExecution(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := open(t, f.engine, clock.Now).store
	finish := func(t *testing.T, e registry.Execution, o registry.Outcome) registry.Execution {
		t.Helper()
		got, finished, err := s.FinishExecution(ctx, e.Project, e.ExecID, o)
		if err != nil || !finished {
			t.Fatalf("finish %s as %s: finished=%v err=%v", e.ExecID, o.Status, finished, err)
		}
		return got
	}
	// agrees checks that the record, its listing copy and want are the same.
	agrees := func(t *testing.T, want registry.Execution) {
		t.Helper()
		if diff := cmp.Diff(want, getExec(t, s, want.Project, want.ExecID)); diff != "" {
			t.Fatalf("record (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, listedExec(t, s, want)); diff != "" {
			t.Fatalf("listing copy (-want +got):\n%s", diff)
		}
	}
	ended := clock.Now().Add(90 * time.Second)
	tests := []struct {
		name    string
		outcome registry.Outcome
		check   func(t *testing.T, got registry.Execution)
	}{
		{"finishing a running execution as completed records its exact result", registry.Outcome{
			Status: registry.StatusCompleted, Result: json.RawMessage(`{"answer":0.10000000000000000000001,"big":98765432109876543210}`), At: ended,
		}, func(t *testing.T, got registry.Execution) {
			if string(got.Result) != `{"answer":0.10000000000000000000001,"big":98765432109876543210}` || got.Error != nil {
				t.Fatalf("result %s error %+v", got.Result, got.Error)
			}
		}},
		{"finishing as completed with a result in the bucket records its ref", registry.Outcome{
			Status: registry.StatusCompleted, ResultRef: "results/proj/ex.json", At: ended,
		}, func(t *testing.T, got registry.Execution) {
			if got.ResultRef != "results/proj/ex.json" || got.Result != nil {
				t.Fatalf("result_ref %q result %s", got.ResultRef, got.Result)
			}
		}},
		{"finishing as failed records the error", registry.Outcome{
			Status: registry.StatusFailed, Error: &registry.ExecError{Type: "ValueError", Message: "topic is empty", Traceback: "Traceback (most recent call last):\n..."}, At: ended,
		}, func(t *testing.T, got registry.Execution) {
			if got.Error == nil || got.Error.Type != "ValueError" || got.Result != nil {
				t.Fatalf("error %+v result %s", got.Error, got.Result)
			}
		}},
		{"finishing as failed keeps the error's details, the runner's full traceback", registry.Outcome{
			Status: registry.StatusFailed, Error: &registry.ExecError{
				Type: "ValueError", Message: "topic is empty", Traceback: "Traceback (most recent call last):\n  File \"flows/f.py\"...",
				Details: map[string]any{"runner_traceback": "Traceback (most recent call last):\n  File \"/var/task/runner.py\"..."},
			}, At: ended,
		}, func(t *testing.T, got registry.Execution) {
			want := &registry.ExecError{
				Type: "ValueError", Message: "topic is empty", Traceback: "Traceback (most recent call last):\n  File \"flows/f.py\"...",
				Details: map[string]any{"runner_traceback": "Traceback (most recent call last):\n  File \"/var/task/runner.py\"..."},
			}
			if diff := cmp.Diff(want, got.Error); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
		}},
		{"finishing as failed without details reads back no details", registry.Outcome{
			Status: registry.StatusFailed, Error: &registry.ExecError{Type: "ValueError", Message: "m", Details: map[string]any{}}, At: ended,
		}, func(t *testing.T, got registry.Execution) {
			if got.Error == nil || len(got.Error.Details) != 0 {
				t.Fatalf("error %+v", got.Error)
			}
			b, err := json.Marshal(got)
			if err != nil || bytes.Contains(b, []byte(`"details"`)) {
				t.Fatalf("the execution's JSON must omit empty details: %s (%v)", b, err)
			}
		}},
		{"finishing as cancelled records only the end", registry.Outcome{Status: registry.StatusCancelled}, func(t *testing.T, got registry.Execution) {
			if got.Error != nil || got.Result != nil || got.ResultRef != "" || !got.EndedAt.Equal(clock.Now()) {
				t.Fatalf("got %+v", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := createExec(t, s, runningExec(project, "finished", ""))
			got := finish(t, e, tt.outcome)
			if got.Status != tt.outcome.Status || got.EndedAt == nil {
				t.Fatalf("status %s ended %v", got.Status, got.EndedAt)
			}
			tt.check(t, got)
			agrees(t, got)
		})
	}
	t.Run("finishing twice is a no-op that returns the first outcome", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "finished_twice", ""))
		first := finish(t, e, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`[1,2,3]`)})
		clock.Advance(time.Minute)
		got, finished, err := s.FinishExecution(ctx, project, e.ExecID, registry.Outcome{Status: registry.StatusCancelled})
		if err != nil || finished {
			t.Fatalf("second finish: finished=%v err=%v", finished, err)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Fatalf("second finish returned (-first +got):\n%s", diff)
		}
		agrees(t, first)
	})
	t.Run("a non-terminal finish status is invalid_argument", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "not_finished", ""))
		for _, st := range []registry.ExecStatus{registry.StatusRunning, ""} {
			_, _, err := s.FinishExecution(ctx, project, e.ExecID, registry.Outcome{Status: st})
			wantCode(t, err, registry.CodeInvalidArgument, "completed")
		}
		if got := getExec(t, s, project, e.ExecID); got.Status != registry.StatusRunning {
			t.Fatalf("status %s, want running", got.Status)
		}
	})
	t.Run("a cancel racing a completion: exactly one wins and the record and listing copy agree", func(t *testing.T) {
		for range 8 {
			e := createExec(t, s, runningExec(project, "finish_race", ""))
			outcomes := []registry.Outcome{
				{Status: registry.StatusCancelled},
				{Status: registry.StatusCompleted, Result: json.RawMessage(`{"done":true}`)},
			}
			got := make([]registry.Execution, len(outcomes))
			won := make([]bool, len(outcomes))
			errs := make([]error, len(outcomes))
			var wg sync.WaitGroup
			for i, o := range outcomes {
				wg.Go(func() { got[i], won[i], errs[i] = s.FinishExecution(ctx, project, e.ExecID, o) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil {
				t.Fatalf("finish errors: %v, %v", errs[0], errs[1])
			}
			if won[0] == won[1] {
				t.Fatalf("cancel won=%v, completion won=%v: want exactly one winner", won[0], won[1])
			}
			if diff := cmp.Diff(got[0], got[1]); diff != "" {
				t.Fatalf("the two finishes disagree on the outcome (-cancel +complete):\n%s", diff)
			}
			winner := outcomes[0]
			if won[1] {
				winner = outcomes[1]
			}
			if got[0].Status != winner.Status {
				t.Fatalf("status %s, winner was %s", got[0].Status, winner.Status)
			}
			agrees(t, got[0])
		}
	})
}

func testRunningIndex(t *testing.T, f *fixture) {
	clock := newTestClock()
	s := open(t, f.engine, clock.Now).store
	overdue := func(t *testing.T, before time.Time) []string {
		t.Helper()
		got, err := s.RunningStartedBefore(ctx, before, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			if e.Status != registry.StatusRunning || e.Project == "" || e.Flow == "" || e.StartedAt.IsZero() {
				t.Fatalf("index entry %+v lacks what the reaper needs", e)
			}
		}
		return execIDs(got)
	}
	lost := registry.Outcome{Status: registry.StatusFailed, Error: &registry.ExecError{Type: "Runner.Lost", Message: "lost"}}
	old := createExec(t, s, runningExec(project, "reaped", ""))
	other := createExec(t, s, runningExec("other-proj", "reaped", "k1"))
	clock.Advance(time.Hour)
	young := createExec(t, s, runningExec(project, "reaped", ""))

	t.Run("executions started before the cutoff are listed, of every project, and younger ones are not", func(t *testing.T) {
		got := overdue(t, clock.Now().Add(-30*time.Minute))
		want := []string{old.ExecID, other.ExecID}
		if diff := cmp.Diff(want, got, cmpSorted); diff != "" {
			t.Fatalf("overdue (-want +got):\n%s", diff)
		}
	})
	t.Run("an idempotency replay adds no index entry", func(t *testing.T) {
		if _, created, err := s.CreateExecution(ctx, runningExec("other-proj", "reaped", "k1")); err != nil || created {
			t.Fatalf("replay: created=%v err=%v", created, err)
		}
		if got := overdue(t, clock.Now().Add(time.Second)); len(got) != 3 {
			t.Fatalf("index holds %v, want 3 entries", got)
		}
	})
	t.Run("the limit bounds the answer", func(t *testing.T) {
		got, err := s.RunningStartedBefore(ctx, clock.Now().Add(time.Second), 2)
		if err != nil || len(got) != 2 {
			t.Fatalf("got %v, %v; want 2 entries", execIDs(got), err)
		}
		if _, err := s.RunningStartedBefore(ctx, clock.Now(), 0); registry.CodeOf(err) != registry.CodeInvalidArgument {
			t.Fatalf("limit 0: %v, want invalid_argument", err)
		}
	})
	t.Run("finishing an execution removes its index entry", func(t *testing.T) {
		if _, finished, err := s.FinishExecution(ctx, project, young.ExecID, registry.Outcome{Status: registry.StatusCompleted}); err != nil || !finished {
			t.Fatalf("finish: finished=%v err=%v", finished, err)
		}
		if got := overdue(t, clock.Now().Add(time.Hour)); slices.Contains(got, young.ExecID) {
			t.Fatalf("finished %s is still indexed: %v", young.ExecID, got)
		}
	})
	t.Run("reaping records the outcome once, and a late finish changes nothing", func(t *testing.T) {
		got, reaped, err := s.ReapExecution(ctx, old, lost)
		if err != nil || !reaped || got.Status != registry.StatusFailed || got.Error.Type != "Runner.Lost" {
			t.Fatalf("reap: reaped=%v err=%v got %+v", reaped, err, got)
		}
		late, finished, err := s.FinishExecution(ctx, project, old.ExecID, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`1`)})
		if err != nil || finished || late.Status != registry.StatusFailed {
			t.Fatalf("late finish: finished=%v err=%v status %s", finished, err, late.Status)
		}
		if diff := cmp.Diff(getExec(t, s, project, old.ExecID), listedExec(t, s, old)); diff != "" {
			t.Fatalf("record and listing copy differ:\n%s", diff)
		}
		if got := overdue(t, clock.Now().Add(time.Hour)); slices.Contains(got, old.ExecID) {
			t.Fatalf("reaped %s is still indexed: %v", old.ExecID, got)
		}
	})
	t.Run("a finish that committed first wins over the reaper", func(t *testing.T) {
		e := createExec(t, s, runningExec(project, "reaped", ""))
		if _, _, err := s.FinishExecution(ctx, project, e.ExecID, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`2`)}); err != nil {
			t.Fatal(err)
		}
		got, reaped, err := s.ReapExecution(ctx, e, lost)
		if err != nil || reaped || got.Status != registry.StatusCompleted || string(got.Result) != "2" {
			t.Fatalf("reap after finish: reaped=%v err=%v got %+v", reaped, err, got)
		}
	})
	t.Run("concurrent reaps and finishes of one execution record exactly one outcome", func(t *testing.T) {
		for range 10 {
			e := createExec(t, s, runningExec(project, "reaped", ""))
			var wins atomic.Int32
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var ok bool
					var err error
					if i%2 == 0 {
						_, ok, err = s.ReapExecution(ctx, e, lost)
					} else {
						_, ok, err = s.FinishExecution(ctx, project, e.ExecID, registry.Outcome{Status: registry.StatusCompleted})
					}
					if err != nil {
						t.Error(err)
					}
					if ok {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d outcomes recorded, want 1", wins.Load())
			}
			if diff := cmp.Diff(getExec(t, s, project, e.ExecID), listedExec(t, s, e)); diff != "" {
				t.Fatalf("record and listing copy differ:\n%s", diff)
			}
		}
	})
}

// cmpSorted compares string slices as sets.
var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })
