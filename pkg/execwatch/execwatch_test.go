package execwatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/execwatch"
	"github.com/kitaru/deployments/pkg/registry"
)

var _ execwatch.Reader = (*dynamo.Store)(nil)

const project = "p1"

// longWait is a wait no test should sit out: a waiter that misses its wake-up
// answers "running" after it, and the test fails.
const longWait = 20 * time.Second

// watcher is a Hub or a Poller.
type watcher interface {
	Wait(ctx context.Context, project, execID string, until time.Time) (registry.Execution, error)
}

func newStore(t *testing.T) *dynamo.Store {
	t.Helper()
	tbl := dynamotest.New(t)
	return dynamo.New(tbl.DB, tbl.Name)
}

func record(t *testing.T, s *dynamo.Store, id string) {
	t.Helper()
	_, created, err := s.CreateExecution(context.Background(), registry.Execution{
		Project: project, ExecID: id, Flow: "f", Version: 1, Snapshot: registry.SnapshotName("f", 1),
		Status: registry.StatusRunning, Inputs: json.RawMessage(`{}`),
	})
	if err != nil || !created {
		t.Fatalf("record %s: created=%v err=%v", id, created, err)
	}
}

func finish(t *testing.T, s *dynamo.Store, id string, status registry.ExecStatus) {
	t.Helper()
	o := registry.Outcome{Status: status, At: time.Now().UTC()}
	if status == registry.StatusCompleted {
		o.Result = json.RawMessage(`{"ok":true}`)
	}
	if _, _, err := s.FinishExecution(context.Background(), project, id, o); err != nil {
		t.Errorf("finish %s: %v", id, err)
	}
}

// eachWatcher runs fn with a Hub and a Poller on a fresh store; notify is
// what the recorder of an outcome calls (nothing for the Poller).
func eachWatcher(t *testing.T, fn func(t *testing.T, s *dynamo.Store, w watcher, notify func(id string))) {
	t.Run("hub", func(t *testing.T) {
		s := newStore(t)
		hub := execwatch.NewHub(s)
		fn(t, s, hub, func(id string) { hub.Notify(project, id) })
	})
	t.Run("poller", func(t *testing.T) {
		s := newStore(t)
		fn(t, s, execwatch.Poller{Reader: s}, func(string) {})
	})
}

func TestAnOutcomeRecordedMidWaitIsAnsweredBeforeTheDeadline(t *testing.T) {
	eachWatcher(t, func(t *testing.T, s *dynamo.Store, w watcher, notify func(string)) {
		record(t, s, "ex_a")
		until := time.Now().Add(longWait)
		var wg sync.WaitGroup
		wg.Go(func() {
			time.Sleep(100 * time.Millisecond) // let the waiter read "running" first
			finish(t, s, "ex_a", registry.StatusCompleted)
			notify("ex_a")
		})
		got, err := w.Wait(context.Background(), project, "ex_a", until)
		wg.Wait()
		if err != nil || got.Status != registry.StatusCompleted {
			t.Fatalf("Wait = %s, %v; want completed", got.Status, err)
		}
		if !time.Now().Before(until) {
			t.Errorf("Wait answered only at its deadline; the outcome did not wake it")
		}
	})
}

func TestAnEndedExecutionIsAnsweredAtOnce(t *testing.T) {
	eachWatcher(t, func(t *testing.T, s *dynamo.Store, w watcher, _ func(string)) {
		record(t, s, "ex_b")
		finish(t, s, "ex_b", registry.StatusFailed)
		until := time.Now().Add(longWait)
		got, err := w.Wait(context.Background(), project, "ex_b", until)
		if err != nil || got.Status != registry.StatusFailed || !time.Now().Before(until) {
			t.Fatalf("Wait = %s, %v; want failed before the deadline", got.Status, err)
		}
	})
}

func TestARunningExecutionIsAnsweredRunningAtTheDeadline(t *testing.T) {
	eachWatcher(t, func(t *testing.T, s *dynamo.Store, w watcher, _ func(string)) {
		record(t, s, "ex_c")
		until := time.Now().Add(150 * time.Millisecond)
		got, err := w.Wait(context.Background(), project, "ex_c", until)
		if err != nil || got.Status != registry.StatusRunning {
			t.Fatalf("Wait = %s, %v; want running", got.Status, err)
		}
		if time.Now().Before(until) {
			t.Errorf("Wait answered running before its deadline")
		}
	})
}

func TestAnUnknownOrOtherProjectsExecutionIsNotFoundAtOnce(t *testing.T) {
	eachWatcher(t, func(t *testing.T, s *dynamo.Store, w watcher, _ func(string)) {
		record(t, s, "ex_d")
		for _, c := range []struct{ project, id string }{{project, "ex_none"}, {"p2", "ex_d"}} {
			until := time.Now().Add(longWait)
			_, err := w.Wait(context.Background(), c.project, c.id, until)
			if !errors.Is(err, registry.ErrNotFound) || !time.Now().Before(until) {
				t.Errorf("Wait(%s, %s) = %v; want not_found at once", c.project, c.id, err)
			}
		}
	})
}

func TestAnEndedContextEndsTheWaitAndLeavesNothingBehind(t *testing.T) {
	eachWatcher(t, func(t *testing.T, s *dynamo.Store, w watcher, _ func(string)) {
		record(t, s, "ex_e")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := w.Wait(ctx, project, "ex_e", time.Now().Add(longWait))
			done <- err
		}()
		for !strings.Contains(stacks(), "execwatch.") {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel = %v; want context.Canceled", err)
		}
		if hub, ok := w.(*execwatch.Hub); ok && hub.Waiting() != 0 {
			t.Errorf("the hub still holds %d waiters", hub.Waiting())
		}
		for range 100 {
			if !strings.Contains(stacks(), "execwatch.") {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Errorf("goroutines of the wait are left after its context ended:\n%s", stacks())
	})
}

// racingReader finishes the execution right after the waiter's first read
// and before the waiter blocks: the read said running, the notification
// came before the wait. A waiter that registers only after reading misses it.
type racingReader struct {
	*dynamo.Store
	t    *testing.T
	hub  *execwatch.Hub
	once sync.Once
}

func (r *racingReader) GetExecution(ctx context.Context, p, id string) (registry.Execution, error) {
	e, err := r.Store.GetExecution(ctx, p, id)
	r.once.Do(func() {
		finish(r.t, r.Store, id, registry.StatusCompleted)
		r.hub.Notify(p, id)
	})
	return e, err
}

func TestHubWakesAWaiterWhoseOutcomeLandsBetweenItsReadAndItsWait(t *testing.T) {
	s := newStore(t)
	record(t, s, "ex_f")
	r := &racingReader{Store: s, t: t}
	r.hub = execwatch.NewHub(r)
	until := time.Now().Add(longWait)
	got, err := r.hub.Wait(context.Background(), project, "ex_f", until)
	if err != nil || got.Status != registry.StatusCompleted || !time.Now().Before(until) {
		t.Fatalf("Wait = %s, %v; want completed before the deadline (lost wake-up)", got.Status, err)
	}
}

func TestHubWakesEveryWaiterOfTheExecutionOnly(t *testing.T) {
	s := newStore(t)
	hub := execwatch.NewHub(s)
	record(t, s, "ex_g")
	record(t, s, "ex_h")
	until := time.Now().Add(longWait)
	var wg sync.WaitGroup
	got := make([]registry.Execution, 3)
	for i := range 3 {
		wg.Go(func() {
			e, err := hub.Wait(context.Background(), project, "ex_g", until)
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
			}
			got[i] = e
		})
	}
	other, cancelOther := context.WithCancel(context.Background())
	otherDone := make(chan registry.Execution, 1)
	go func() {
		e, _ := hub.Wait(other, project, "ex_h", until)
		otherDone <- e
	}()
	for hub.Waiting() < 4 {
		time.Sleep(5 * time.Millisecond)
	}
	finish(t, s, "ex_g", registry.StatusCancelled)
	hub.Notify(project, "ex_g")
	wg.Wait()
	for i, e := range got {
		if e.Status != registry.StatusCancelled {
			t.Errorf("waiter %d got %s; want cancelled", i, e.Status)
		}
	}
	if hub.Waiting() != 1 {
		t.Errorf("%d waiters left; want the other execution's one", hub.Waiting())
	}
	cancelOther()
	<-otherDone
}

// stacks is every goroutine's stack (the SDK's pooled connections come and
// go, so tests look for frames of this package rather than count goroutines).
func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
