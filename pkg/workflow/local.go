package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Runner runs one attempt of a flow: the Run step.
type Runner interface {
	// Run runs req and returns the runner's answer. A failure is a *RunError;
	// any other error counts as a Runner.Crashed failure. Cancelling ctx ends
	// the run (and kills whatever it started).
	Run(ctx context.Context, req RunRequest) (RunOutput, error)
}

// RunError is a failed run attempt.
type RunError struct {
	Type      string
	Message   string
	Traceback string
	// Details is the runner's machine-readable context (its full traceback
	// as registry.DetailRunnerTraceback); nil when it gave none.
	Details map[string]any
	// Infrastructure is set when the flow never ran because the runner could
	// not be started: the local equivalent of Lambda's service errors, and
	// the only failure the Run step retries.
	Infrastructure bool
}

func (e *RunError) Error() string { return e.Type + ": " + e.Message }

// ExecError is the execution's error for this failure.
func (e *RunError) ExecError() registry.ExecError {
	return registry.ExecError{Type: e.Type, Message: e.Message, Traceback: e.Traceback, Details: e.Details}
}

// Finisher records how an execution ended: the record steps.
type Finisher interface {
	// Finish moves a running execution to o.Status; an execution that already
	// ended (say, cancelled) is left as it is and is not an error.
	Finish(ctx context.Context, project, execID string, o registry.Outcome) error
}

// FinisherFunc adapts a function to Finisher.
type FinisherFunc func(ctx context.Context, project, execID string, o registry.Outcome) error

// Finish calls f.
func (f FinisherFunc) Finish(ctx context.Context, project, execID string, o registry.Outcome) error {
	return f(ctx, project, execID, o)
}

// LocalConfig configures a Local interpreter.
type LocalConfig struct {
	Definition Definition
	Runner     Runner
	Finisher   Finisher
	// Now stamps outcomes; nil is time.Now.
	Now func() time.Time
	// Wait sleeps between retries and returns early with an error when ctx
	// ends; nil waits on a timer.
	Wait func(ctx context.Context, d time.Duration) error
	// Logger reports runs and recording failures; nil discards.
	Logger *slog.Logger
}

// Local interprets a Definition in process, for kitaru dev: the same steps,
// timeouts, retries and failure handling as the state machine.
type Local struct {
	cfg      LocalConfig
	base     context.Context
	shutdown context.CancelCauseFunc
	wg       sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	started map[string]bool
	running map[string]context.CancelCauseFunc
}

var _ Executor = (*Local)(nil)

// Why a run's context ended, besides its step timeout.
var (
	errStopped  = errors.New("the execution was stopped")
	errShutdown = errors.New("kitaru dev is shutting down")
	errTimedOut = errors.New("the run step timed out")
)

// NewLocal returns an interpreter ready to Start runs.
func NewLocal(cfg LocalConfig) (*Local, error) {
	if err := cfg.Definition.Validate(); err != nil {
		return nil, err
	}
	if cfg.Runner == nil || cfg.Finisher == nil {
		return nil, errors.New("the local workflow needs a Runner and a Finisher")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Wait == nil {
		cfg.Wait = waitTimer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	base, shutdown := context.WithCancelCause(context.Background())
	return &Local{cfg: cfg, base: base, shutdown: shutdown, started: map[string]bool{}, running: map[string]context.CancelCauseFunc{}}, nil
}

// Start runs req in the background; it returns once the run is scheduled.
// The run outlives ctx (the request that started it). Starting the same
// execution again does nothing. Errors: invalid_argument (no exec_id),
// unavailable (after Close).
func (l *Local) Start(ctx context.Context, req RunRequest) error {
	if req.Project == "" || req.ExecID == "" {
		return registry.Errorf(registry.CodeInvalidArgument, "a run needs a project and an exec_id")
	}
	key := runKey(req.Project, req.ExecID)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return registry.Errorf(registry.CodeUnavailable, "kitaru dev is shutting down and starts no more runs; start it again and invoke again")
	}
	if l.started[key] {
		return nil
	}
	l.started[key] = true
	runCtx, cancel := context.WithCancelCause(l.base)
	l.running[key] = cancel
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer func() {
			l.mu.Lock()
			delete(l.running, key)
			l.mu.Unlock()
			cancel(nil)
		}()
		l.execute(runCtx, req)
	}()
	return nil
}

// Stop ends a run: its process is killed and its outcome is not recorded
// (the caller recorded the cancel). Stopping an execution that is not
// running does nothing, and it will not run if started later.
func (l *Local) Stop(ctx context.Context, project, execID string) error {
	key := runKey(project, execID)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.started[key] = true
	if cancel, ok := l.running[key]; ok {
		cancel(errStopped)
	}
	return nil
}

// Close starts no more runs and waits for the running ones to end and be
// recorded. When ctx ends first, it kills them, records them failed
// (Runner.Interrupted) and returns ctx's error once they are.
func (l *Local) Close(ctx context.Context) error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		l.shutdown(errShutdown)
		<-done
		return fmt.Errorf("close the local workflow: %w", ctx.Err())
	}
}

// execute is the state machine: Run with its retries, then a record step.
func (l *Local) execute(ctx context.Context, req RunRequest) {
	log := l.cfg.Logger.With("project", req.Project, "exec_id", req.ExecID, "flow", req.Flow, "version", req.Version)
	start := time.Now()
	out, failure := l.run(ctx, req)
	var o registry.Outcome
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errStopped):
		// The caller recorded the cancel; even a run that finished meanwhile
		// must not look as if it won.
		log.Info("run stopped", "duration", time.Since(start))
		return
	case failure == nil:
		o = out.Outcome(l.cfg.Now())
	case errors.Is(cause, errShutdown):
		o = registry.Outcome{Status: registry.StatusFailed, At: l.cfg.Now(), Error: &registry.ExecError{
			Type: ErrorRunnerInterrupted, Message: "kitaru dev stopped before the flow finished; invoke it again",
		}}
	default:
		e := failure.ExecError()
		o = registry.Outcome{Status: registry.StatusFailed, Error: &e, At: l.cfg.Now()}
	}
	if err := l.record(ctx, req, o); err != nil {
		log.Error("record outcome failed", "status", o.Status, "error", err)
		return
	}
	log.Info("run ended", "status", o.Status, "duration", time.Since(start))
}

// run is the Run step: attempts bounded by TimeoutSeconds, retried per policy.
func (l *Local) run(ctx context.Context, req RunRequest) (RunOutput, *RunError) {
	step := l.cfg.Definition.Run
	retries := newRetries(step.Retry)
	for {
		out, failure := l.attempt(ctx, step, req)
		if failure == nil || ctx.Err() != nil {
			return out, failure
		}
		delay, again := retries.next(failure.Type, failure.Infrastructure)
		if !again {
			return out, failure
		}
		if err := l.cfg.Wait(ctx, delay); err != nil {
			return out, failure
		}
	}
}

func (l *Local) attempt(ctx context.Context, step Step, req RunRequest) (RunOutput, *RunError) {
	actx := ctx
	if step.TimeoutSeconds > 0 {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, time.Duration(step.TimeoutSeconds)*time.Second, errTimedOut)
		defer cancel()
	}
	out, err := l.cfg.Runner.Run(actx, req)
	if err == nil {
		return out, nil
	}
	if ctx.Err() == nil && errors.Is(context.Cause(actx), errTimedOut) {
		e := timeoutError(step.TimeoutSeconds)
		return RunOutput{}, &RunError{Type: e.Type, Message: e.Message}
	}
	if re, ok := errors.AsType[*RunError](err); ok {
		return RunOutput{}, re
	}
	return RunOutput{}, &RunError{Type: ErrorRunnerCrashed, Message: err.Error()}
}

// record is a record step: Finish, retried per the Record policy. It goes on
// after Close gives up only for one attempt, so a shut-down run is recorded.
func (l *Local) record(ctx context.Context, req RunRequest, o registry.Outcome) error {
	step := l.cfg.Definition.Record
	retries := newRetries(step.Retry)
	rctx := context.WithoutCancel(ctx)
	for {
		actx, cancel := rctx, context.CancelFunc(func() {})
		if step.TimeoutSeconds > 0 {
			actx, cancel = context.WithTimeout(rctx, time.Duration(step.TimeoutSeconds)*time.Second)
		}
		err := l.cfg.Finisher.Finish(actx, req.Project, req.ExecID, o)
		cancel()
		if err == nil {
			return nil
		}
		errType := ErrorTaskFailed
		if actx.Err() != nil {
			errType = ErrorTimeout
		}
		delay, again := retries.next(errType, false)
		if !again {
			return err
		}
		if werr := l.cfg.Wait(l.base, delay); werr != nil {
			return err
		}
	}
}

func runKey(project, execID string) string { return project + "\x00" + execID }

func waitTimer(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retries tracks a step's retry policies the way Step Functions does: the
// first policy naming the error decides, and each counts its own attempts.
type retries struct {
	policies []Retry
	used     []int
}

func newRetries(policies []Retry) *retries {
	return &retries{policies: policies, used: make([]int, len(policies))}
}

// next says whether an error of errType (infra: the runner could not be
// started) is tried again, and after how long.
func (r *retries) next(errType string, infra bool) (time.Duration, bool) {
	for i, p := range r.policies {
		if !p.matches(errType, infra) {
			continue
		}
		if r.used[i] >= p.MaxAttempts {
			return 0, false
		}
		delay := float64(p.IntervalSeconds) * math.Pow(p.BackoffRate, float64(r.used[i]))
		if p.MaxDelaySeconds > 0 {
			delay = math.Min(delay, float64(p.MaxDelaySeconds))
		}
		r.used[i]++
		if p.JitterStrategy == JitterFull {
			delay *= rand.Float64()
		}
		return time.Duration(delay * float64(time.Second)), true
	}
	return 0, false
}

// matches applies ASL's error matching, with an infrastructure failure of the
// local runner standing in for Lambda's own exceptions.
func (p Retry) matches(errType string, infra bool) bool {
	for _, name := range p.ErrorEquals {
		switch {
		case name == ErrorAll, name == errType:
			return true
		case name == ErrorTaskFailed && errType != ErrorTimeout:
			return true
		case infra && slices.Contains(InfrastructureErrors, name):
			return true
		}
	}
	return false
}
