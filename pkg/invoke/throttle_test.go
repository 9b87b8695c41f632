package invoke_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/sfn/sfntest"
	"github.com/kitaru/deployments/pkg/workflow"
)

const throttledMachine = "arn:aws:states:eu-west-1:123456789012:stateMachine:kitaru-executions"

// throttledService invokes through the real executor and SDK against a
// fake Step Functions that throttles every start until told otherwise.
func throttledService(t *testing.T) (*invoke.Service, *dynamo.Store, *sfntest.FakeStepFunctions) {
	t.Helper()
	f, client := sfntest.NewFakeStepFunctions(t)
	f.FailStarts("ThrottlingException", -1)
	svc, store := newService(t, &sfn.Executor{Client: client, StateMachineARN: throttledMachine,
		StartRetry: sfn.StartRetry{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	svc.RunObjects = &artifacts.Store{Blobs: localBlobs(t)}
	svc.SecretsByReference = true
	n := 0
	svc.NewID = func() string { n++; return fmt.Sprintf("ex_%026d", n) }
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	return svc, store, f
}

func TestAThrottledStartLeavesNoExecution(t *testing.T) {
	ctx := context.Background()
	svc, store, f := throttledService(t)
	blobs := svc.RunObjects.(*artifacts.Store).Blobs
	_, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "ok", IdempotencyKey: "k-1"})
	if registry.CodeOf(err) != registry.CodeRateLimited {
		t.Fatalf("Invoke = %v; want rate_limited", err)
	}
	if wait, _ := registry.RetryAfter(err); wait != time.Second {
		t.Errorf("retry after %v, want 1s", wait)
	}
	page, err := store.ListExecutions(ctx, "p", "ok", registry.PageRequest{})
	if err != nil || len(page.Items) != 0 {
		t.Fatalf("executions %+v (%v); want none recorded", page.Items, err)
	}
	running, err := store.RunningStartedBefore(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || len(running) != 0 {
		t.Fatalf("running index %+v (%v); want empty", running, err)
	}
	if _, exists, err := blobs.Stat(ctx, artifacts.RunObjectKey("p", fmt.Sprintf("ex_%026d", 1))); err != nil || exists {
		t.Errorf("a run object of the unstarted execution is still stored (err %v)", err)
	}

	f.FailStarts("", 0)
	e, created, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "ok", IdempotencyKey: "k-1"})
	if err != nil || !created || e.Status != registry.StatusRunning {
		t.Fatalf("Invoke once throttling stopped = %+v created=%v %v; want a new running execution", e, created, err)
	}
	if f.Executions() != 1 {
		t.Errorf("%d runs started, want 1", f.Executions())
	}
}

// unabandonable is the store with AbandonExecution failing, as when the
// table is unreachable right after the throttle.
type unabandonable struct{ *dynamo.Store }

func (unabandonable) AbandonExecution(context.Context, string, string, int) error {
	return registry.Errorf(registry.CodeUnavailable, "the table is unreachable")
}

func TestAThrottledStartThatCannotBeAbandonedIsRecordedFailed(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := throttledService(t)
	svc.Execs = unabandonable{store}
	_, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "ok"})
	if registry.CodeOf(err) != registry.CodeUnavailable {
		t.Fatalf("Invoke = %v; want unavailable", err)
	}
	page, err := store.ListExecutions(ctx, "p", "ok", registry.PageRequest{})
	if err != nil || len(page.Items) != 1 || page.Items[0].Status != registry.StatusFailed {
		t.Fatalf("executions %+v (%v); want one failed, none left running", page.Items, err)
	}
}

// fakeRacingExecutor stands in for Step Functions throttling the first
// start of a run and accepting a replay's start of it: the first Start
// waits until the replay's Start returned, then answers rate_limited.
type fakeRacingExecutor struct {
	firstStarting, replayStarted chan struct{}
	starts                       atomic.Int32
}

func (f *fakeRacingExecutor) Start(_ context.Context, req workflow.RunRequest) error {
	if f.starts.Add(1) > 1 {
		return nil
	}
	close(f.firstStarting)
	<-f.replayStarted
	return fmt.Errorf("start execution %s: %w", req.ExecID, registry.RateLimited(time.Second, "Step Functions throttled the start"))
}

func (f *fakeRacingExecutor) Stop(context.Context, string, string) error { return nil }

// TestAReplayThatStartsTheExecutionKeepsItFromItsRecordersAbandon: request
// A records execution X under key K and its start is throttled; a replay B
// of K starts X meanwhile. A must not remove X: B answered with it and its
// run needs the record and the run object.
func TestAReplayThatStartsTheExecutionKeepsItFromItsRecordersAbandon(t *testing.T) {
	ctx := context.Background()
	exec := &fakeRacingExecutor{firstStarting: make(chan struct{}), replayStarted: make(chan struct{})}
	svc, store := newService(t, exec)
	svc.RunObjects = &artifacts.Store{Blobs: localBlobs(t)}
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	req := invoke.Request{Project: "p", Flow: "ok", IdempotencyKey: "k-race"}

	var first error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _, first = svc.Invoke(ctx, req)
	}()
	<-exec.firstStarting
	replay, created, err := svc.Invoke(ctx, req)
	close(exec.replayStarted)
	<-done
	if err != nil || created {
		t.Fatalf("replay = created %v, %v; want the recorded execution", created, err)
	}
	if registry.CodeOf(first) != registry.CodeRateLimited || !strings.Contains(first.Error(), "same key") {
		t.Fatalf("the throttled request got %v; want rate_limited telling it to repeat with its key", first)
	}
	got, err := store.GetExecution(ctx, "p", replay.ExecID)
	if err != nil || got.Status != registry.StatusRunning {
		t.Fatalf("the execution the replay answered reads %+v, %v; want it running", got, err)
	}
	if _, exists, err := svc.RunObjects.(*artifacts.Store).Blobs.Stat(ctx, artifacts.RunObjectKey("p", replay.ExecID)); err != nil || !exists {
		t.Fatalf("the run object of the started run is gone (err %v)", err)
	}
	again, created, err := svc.Invoke(ctx, req)
	if err != nil || created || again.ExecID != replay.ExecID {
		t.Fatalf("repeating the request = %s created=%v %v; want %s", again.ExecID, created, err, replay.ExecID)
	}
}
