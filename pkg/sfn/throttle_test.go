package sfn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/sfn/sfntest"
)

// quickRetry keeps the tests fast; the delays do not change what is asserted.
var quickRetry = sfn.StartRetry{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}

func TestThrottledStarts(t *testing.T) {
	tests := []struct {
		name      string
		errType   string
		failures  int
		wantCalls int
		wantCode  registry.Code // "" for success
		wantWait  time.Duration
	}{
		{"a start throttled on every attempt is rate_limited and starts nothing", "ThrottlingException", -1, 3, registry.CodeRateLimited, time.Second},
		{"a start throttled fewer times than the attempts starts once", "ThrottlingException", 2, 3, "", 0},
		{"KMS throttling a start is retried and rate_limited too", "KmsThrottlingException", -1, 3, registry.CodeRateLimited, time.Second},
		{"an account at its open-execution quota is rate_limited for a minute, without retries", "ExecutionLimitExceeded", -1, 1, registry.CodeRateLimited, time.Minute},
		{"a refusal that is not about rate stays unavailable", "InvalidExecutionInput", -1, 1, registry.CodeUnavailable, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, client := sfntest.NewFakeStepFunctions(t)
			f.FailStarts(tt.errType, tt.failures)
			e := &sfn.Executor{Client: client, StateMachineARN: machineARN, StartRetry: quickRetry}
			err := e.Start(context.Background(), runRequest(execID))
			if got := len(f.Calls()); got != tt.wantCalls {
				t.Errorf("%d StartExecution calls, want %d", got, tt.wantCalls)
			}
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("start = %v, want success", err)
				}
				if f.Executions() != 1 {
					t.Errorf("%d executions, want 1", f.Executions())
				}
				return
			}
			if code := registry.CodeOf(err); code != tt.wantCode {
				t.Fatalf("start = %v, want code %s", err, tt.wantCode)
			}
			if wait, _ := registry.RetryAfter(err); wait != tt.wantWait {
				t.Errorf("retry after %v, want %v", wait, tt.wantWait)
			}
			if f.Executions() != 0 {
				t.Errorf("%d executions started, want none", f.Executions())
			}
		})
	}
}

func TestTheDefaultStartRetryStaysWellInsideTheAPITimeout(t *testing.T) {
	// API Gateway gives up at 29 s; the invoke also reads and writes the
	// table, presigns and hands off the run object around the start.
	if got, limit := sfn.DefaultStartRetry.MaxWait(), 5*time.Second; got > limit {
		t.Errorf("DefaultStartRetry sleeps up to %v, want at most %v", got, limit)
	}
	if sfn.DefaultStartRetry.MaxAttempts < 3 {
		t.Errorf("DefaultStartRetry makes %d attempts, want a few", sfn.DefaultStartRetry.MaxAttempts)
	}
}

func TestDelaysStayBelowTheirCeiling(t *testing.T) {
	r := sfn.StartRetry{MaxAttempts: 6, BaseDelay: 100 * time.Millisecond, MaxDelay: 500 * time.Millisecond}
	ceilings := []time.Duration{100, 200, 400, 500, 500}
	for i, c := range ceilings {
		for range 50 {
			d, err := r.BackoffDelay(i+1, errors.New("throttled"))
			if err != nil || d < 0 || d >= c*time.Millisecond {
				t.Fatalf("attempt %d: delay %v (err %v), want in [0, %v)", i+1, d, err, c*time.Millisecond)
			}
		}
	}
	if got, want := r.MaxWait(), 1700*time.Millisecond; got != want {
		t.Errorf("MaxWait = %v, want %v", got, want)
	}
}
