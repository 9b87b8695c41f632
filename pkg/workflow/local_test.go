package workflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fakeRunner stands in for the runner process; run decides each attempt
// (numbered from 1).
type fakeRunner struct {
	calls   atomic.Int32
	started chan struct{}
	run     func(ctx context.Context, attempt int) (workflow.RunOutput, error)
}

func (r *fakeRunner) Run(ctx context.Context, req workflow.RunRequest) (workflow.RunOutput, error) {
	n := int(r.calls.Add(1))
	if r.started != nil {
		r.started <- struct{}{}
	}
	return r.run(ctx, n)
}

type finished struct {
	Project, ExecID string
	Outcome         registry.Outcome
}

// fakeFinisher stands in for the execution store; the first failFirst calls fail.
type fakeFinisher struct {
	mu        sync.Mutex
	calls     int
	failFirst int
	finished  []finished
}

func (f *fakeFinisher) Finish(ctx context.Context, project, execID string, o registry.Outcome) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.failFirst {
		return errors.New("store unavailable")
	}
	f.finished = append(f.finished, finished{project, execID, o})
	return nil
}

func (f *fakeFinisher) recorded() []finished {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]finished(nil), f.finished...)
}

// waits counts retry waits without sleeping.
type waits struct{ n atomic.Int32 }

func (w *waits) wait(ctx context.Context, d time.Duration) error {
	w.n.Add(1)
	return ctx.Err()
}

func newLocal(t *testing.T, def workflow.Definition, r workflow.Runner, f workflow.Finisher, w *waits) *workflow.Local {
	t.Helper()
	l, err := workflow.NewLocal(workflow.LocalConfig{Definition: def, Runner: r, Finisher: f, Now: func() time.Time { return testNow }, Wait: w.wait})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func testRequest(execID string) workflow.RunRequest {
	return workflow.RunRequest{Project: "p", ExecID: execID, Flow: "research_agent", Version: 2, Entrypoint: "flows/research.py:research_agent", Inputs: json.RawMessage(`{}`)}
}

func closeWithin(t *testing.T, l *workflow.Local, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func TestTheLocalWorkflowRunsTheDefinition(t *testing.T) {
	infra := &workflow.RunError{Type: workflow.ErrorRunnerUnavailable, Message: "could not start python3", Infrastructure: true}
	flowErr := &workflow.RunError{Type: "ValueError", Message: "topic must not be empty", Traceback: "Traceback (most recent call last):\n  ..."}
	failed := func(e registry.ExecError) registry.Outcome {
		return registry.Outcome{Status: registry.StatusFailed, Error: &e, At: testNow}
	}
	oneSecond := workflow.Default()
	oneSecond.Run.TimeoutSeconds = 1
	tests := []struct {
		name         string
		def          workflow.Definition
		run          func(ctx context.Context, attempt int) (workflow.RunOutput, error)
		failFinishes int
		want         registry.Outcome
		wantAttempts int
		wantWaits    int
	}{
		{"a success records completed with the result", workflow.Default(),
			func(context.Context, int) (workflow.RunOutput, error) {
				return workflow.RunOutput{Result: json.RawMessage(`{"n":1}`)}, nil
			},
			0, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`{"n":1}`), At: testNow}, 1, 0},
		{"an uploaded result records completed with its ref", workflow.Default(),
			func(context.Context, int) (workflow.RunOutput, error) {
				return workflow.RunOutput{ResultRef: "results/p/ex_1.json"}, nil
			},
			0, registry.Outcome{Status: registry.StatusCompleted, ResultRef: "results/p/ex_1.json", At: testNow}, 1, 0},
		{"a flow error records failed with its type, message and traceback and is not retried", workflow.Default(),
			func(context.Context, int) (workflow.RunOutput, error) { return workflow.RunOutput{}, flowErr },
			0, failed(flowErr.ExecError()), 1, 0},
		{"an infrastructure error is retried per policy, then recorded failed", workflow.Default(),
			func(context.Context, int) (workflow.RunOutput, error) { return workflow.RunOutput{}, infra },
			0, failed(infra.ExecError()), 4, 3},
		{"an infrastructure error that clears up is retried to success", workflow.Default(),
			func(_ context.Context, attempt int) (workflow.RunOutput, error) {
				if attempt == 1 {
					return workflow.RunOutput{}, infra
				}
				return workflow.RunOutput{Result: json.RawMessage(`1`)}, nil
			},
			0, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`1`), At: testNow}, 2, 1},
		{"an error that is not a RunError counts as a crashed runner and is not retried", workflow.Default(),
			func(context.Context, int) (workflow.RunOutput, error) {
				return workflow.RunOutput{}, errors.New("pipe broke")
			},
			0, failed(registry.ExecError{Type: "Runner.Crashed", Message: "pipe broke"}), 1, 0},
		{"a run over its timeout records States.Timeout and is not retried", oneSecond,
			func(ctx context.Context, _ int) (workflow.RunOutput, error) {
				<-ctx.Done()
				return workflow.RunOutput{}, ctx.Err()
			},
			0, failed(registry.ExecError{Type: "States.Timeout", Message: "the flow exceeded its timeout of 1 seconds and was stopped; make it finish sooner or split it into smaller flows"}), 1, 0},
		{"a finish that fails transiently is retried until the outcome is recorded", workflow.Default(),
			func(context.Context, int) (workflow.RunOutput, error) { return workflow.RunOutput{}, flowErr },
			2, failed(flowErr.ExecError()), 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runner := &fakeRunner{run: tt.run}
			finisher := &fakeFinisher{failFirst: tt.failFinishes}
			w := &waits{}
			l := newLocal(t, tt.def, runner, finisher, w)
			if err := l.Start(context.Background(), testRequest("ex_1")); err != nil {
				t.Fatal(err)
			}
			closeWithin(t, l, 10*time.Second)
			want := []finished{{"p", "ex_1", tt.want}}
			if diff := cmp.Diff(want, finisher.recorded()); diff != "" {
				t.Errorf("recorded (-want +got):\n%s", diff)
			}
			if got := int(runner.calls.Load()); got != tt.wantAttempts {
				t.Errorf("%d run attempts, want %d", got, tt.wantAttempts)
			}
			if got := int(w.n.Load()); got != tt.wantWaits {
				t.Errorf("%d retry waits, want %d", got, tt.wantWaits)
			}
		})
	}
}

func TestAStoppedRunRecordsNothingAfterTheStop(t *testing.T) {
	runner := &fakeRunner{started: make(chan struct{}, 1), run: func(ctx context.Context, _ int) (workflow.RunOutput, error) {
		<-ctx.Done()
		// The worst case: the run claims success after it was stopped.
		return workflow.RunOutput{Result: json.RawMessage(`"late"`)}, nil
	}}
	finisher := &fakeFinisher{}
	l := newLocal(t, workflow.Default(), runner, finisher, &waits{})
	if err := l.Start(context.Background(), testRequest("ex_1")); err != nil {
		t.Fatal(err)
	}
	<-runner.started
	if err := l.Stop(context.Background(), "p", "ex_1"); err != nil {
		t.Fatal(err)
	}
	if err := l.Start(context.Background(), testRequest("ex_1")); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, l, 10*time.Second)
	if got := finisher.recorded(); len(got) != 0 {
		t.Errorf("recorded %v after the stop, want nothing", got)
	}
	if got := runner.calls.Load(); got != 1 {
		t.Errorf("%d runs, want 1: a stopped execution is not started again", got)
	}
}

func TestStoppingAnExecutionThatIsNotRunningIsNotAnError(t *testing.T) {
	l := newLocal(t, workflow.Default(), &fakeRunner{}, &fakeFinisher{}, &waits{})
	if err := l.Stop(context.Background(), "p", "ex_unknown"); err != nil {
		t.Errorf("stop = %v, want nil", err)
	}
	closeWithin(t, l, time.Second)
}

func TestStartingTheSameExecutionTwiceRunsItOnce(t *testing.T) {
	runner := &fakeRunner{run: func(context.Context, int) (workflow.RunOutput, error) {
		return workflow.RunOutput{Result: json.RawMessage(`1`)}, nil
	}}
	finisher := &fakeFinisher{}
	l := newLocal(t, workflow.Default(), runner, finisher, &waits{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := l.Start(context.Background(), testRequest("ex_1")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := l.Start(context.Background(), testRequest("ex_1")); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, l, 10*time.Second)
	if got := runner.calls.Load(); got != 1 {
		t.Errorf("%d runs, want 1", got)
	}
	if got := len(finisher.recorded()); got != 1 {
		t.Errorf("%d outcomes recorded, want 1", got)
	}
}

func TestARunOutlivesTheRequestThatStartedIt(t *testing.T) {
	runner := &fakeRunner{run: func(ctx context.Context, _ int) (workflow.RunOutput, error) {
		return workflow.RunOutput{Result: json.RawMessage(`1`)}, ctx.Err()
	}}
	finisher := &fakeFinisher{}
	l := newLocal(t, workflow.Default(), runner, finisher, &waits{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Start(ctx, testRequest("ex_1")); err != nil {
		t.Fatal(err)
	}
	closeWithin(t, l, 10*time.Second)
	if got := finisher.recorded(); len(got) != 1 || got[0].Outcome.Status != registry.StatusCompleted {
		t.Errorf("recorded %v, want one completed outcome", got)
	}
}

// TestCloseWaitsForRunsInFlight runs in a synctest bubble: synctest.Wait
// returns once every goroutine of the test is blocked, so a Close that did
// not wait for the run would have returned by then, however slow the machine;
// and the bubble's clock skips an hour, so one that waited on a timer instead
// would have too.
func TestCloseWaitsForRunsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		finishRun := sync.OnceFunc(func() { close(release) })
		t.Cleanup(finishRun) // a failed test leaves no goroutine blocked in the bubble
		runner := &fakeRunner{started: make(chan struct{}, 1), run: func(context.Context, int) (workflow.RunOutput, error) {
			<-release
			return workflow.RunOutput{Result: json.RawMessage(`1`)}, nil
		}}
		finisher := &fakeFinisher{}
		l := newLocal(t, workflow.Default(), runner, finisher, &waits{})
		if err := l.Start(context.Background(), testRequest("ex_1")); err != nil {
			t.Fatal(err)
		}
		<-runner.started
		closed := make(chan error, 1)
		go func() { closed <- l.Close(context.Background()) }()
		time.Sleep(time.Hour) // on the bubble's clock: returns at once
		synctest.Wait()       // the run waits for release, Close for the run
		select {
		case err := <-closed:
			t.Fatalf("close returned %v while a run was in flight", err)
		default:
		}
		if err := l.Start(context.Background(), testRequest("ex_2")); registry.CodeOf(err) != registry.CodeUnavailable {
			t.Errorf("start after close = %v, want unavailable", err)
		}
		finishRun()
		if err := <-closed; err != nil {
			t.Fatalf("close: %v", err)
		}
		if got := finisher.recorded(); len(got) != 1 || got[0].Outcome.Status != registry.StatusCompleted {
			t.Errorf("recorded %v, want the run's completion before close returned", got)
		}
	})
}

func TestCloseThatRunsOutOfTimeRecordsRunsInterrupted(t *testing.T) {
	runner := &fakeRunner{started: make(chan struct{}, 1), run: func(ctx context.Context, _ int) (workflow.RunOutput, error) {
		<-ctx.Done()
		return workflow.RunOutput{}, ctx.Err()
	}}
	finisher := &fakeFinisher{}
	l := newLocal(t, workflow.Default(), runner, finisher, &waits{})
	if err := l.Start(context.Background(), testRequest("ex_1")); err != nil {
		t.Fatal(err)
	}
	<-runner.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("close = %v, want the context's error", err)
	}
	want := []finished{{"p", "ex_1", registry.Outcome{Status: registry.StatusFailed, At: testNow, Error: &registry.ExecError{
		Type: "Runner.Interrupted", Message: "kitaru dev stopped before the flow finished; invoke it again"}}}}
	if diff := cmp.Diff(want, finisher.recorded()); diff != "" {
		t.Errorf("recorded (-want +got):\n%s", diff)
	}
}
