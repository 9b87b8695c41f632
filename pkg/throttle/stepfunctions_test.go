package throttle_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	sfnexec "github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/throttle"
	"github.com/kitaru/deployments/pkg/workflow"
)

func TestStartExecutionFollowsTheStandardQuota(t *testing.T) {
	fake := &throttle.FakeStepFunctions{}
	starts := throttle.NewStartExecutions(throttle.StandardStartExecution)
	client := sfn.New(sfn.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String("http://127.0.0.1:1")},
		func(o *sfn.Options) { o.HTTPClient = throttle.HandlerClient{Handler: fake} },
		starts.Option(),
		func(o *sfn.Options) { o.RetryMaxAttempts = 1 })
	// One attempt: this test counts the bucket's admissions, not the
	// executor's retries of a throttled start.
	exec := &sfnexec.Executor{Client: client, StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:kitaru",
		StartRetry: sfnexec.StartRetry{MaxAttempts: 1}}
	n := 0
	start := func(at time.Duration, count int) (ok int, lastErr error) {
		for range count {
			n++
			err := exec.Start(throttle.WithTime(t.Context(), at), workflow.RunRequest{ExecID: fmt.Sprintf("ex_%d", n)})
			if err == nil {
				ok++
			} else {
				lastErr = err
			}
		}
		return ok, lastErr
	}
	tests := []struct {
		name  string
		at    time.Duration
		count int
		want  int
	}{
		{"a full bucket starts 1,300 at once and throttles the 1,301st", 0, 1301, 1300},
		{"one virtual second refills 300", time.Second, 301, 300},
		{"a tenth of a second refills 30", 1100 * time.Millisecond, 31, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := start(tt.at, tt.count)
			if ok != tt.want {
				t.Errorf("started %d, want %d", ok, tt.want)
			}
			if apiCode(err) != "ThrottlingException" {
				t.Errorf("the refused start: %v (code %q), want ThrottlingException from Step Functions", err, apiCode(err))
			}
		})
	}
	if admitted, throttled := starts.Counts(); admitted != 1630 || throttled != 3 || fake.Started() != 1630 {
		t.Errorf("counts: %d admitted, %d throttled, %d started; want 1630, 3, 1630", admitted, throttled, fake.Started())
	}
}

// fixedBackoff waits the same delay before every retry.
type fixedBackoff time.Duration

func (b fixedBackoff) BackoffDelay(int, error) (time.Duration, error) { return time.Duration(b), nil }

// TestRetriesHappenInVirtualTime: a retry of a throttled start is charged
// after the delay the retryer of the call (the executor's StartRetry, made
// virtual) draws for it, not the client's, and nothing sleeps.
func TestRetriesHappenInVirtualTime(t *testing.T) {
	starts := throttle.NewStartExecutions(throttle.Quota{Burst: 1, PerSecond: 1})
	client := sfn.New(sfn.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String("http://127.0.0.1:1"),
		// The call's retryer replaces this one: were its 1 ms used, every
		// retry would land before the bucket refills.
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) { o.Backoff = fixedBackoff(time.Millisecond) })},
		func(o *sfn.Options) { o.HTTPClient = throttle.HandlerClient{Handler: &throttle.FakeStepFunctions{}} },
		starts.Option())
	// Full jitter below 2 s, 29 retries: together they pass 1 s but for a
	// chance below 1e-30; slept for real they would take about 29 s.
	exec := &sfnexec.Executor{Client: client, StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:kitaru",
		StartRetry:       sfnexec.StartRetry{MaxAttempts: 30, BaseDelay: 2 * time.Second, MaxDelay: 2 * time.Second},
		WrapStartRetryer: starts.VirtualRetryer}
	if err := exec.Start(throttle.WithTime(t.Context(), 0), workflow.RunRequest{ExecID: "ex_1"}); err != nil {
		t.Fatal(err)
	}
	// The bucket is empty at 0 s: the second start succeeds only if its
	// retries are charged a second or more later.
	if err := exec.Start(throttle.WithTime(t.Context(), 0), workflow.RunRequest{ExecID: "ex_2"}); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if admitted, throttled := starts.Counts(); admitted != 2 || throttled < 1 {
		t.Errorf("admitted %d, throttled %d; want 2 admitted after at least one throttle", admitted, throttled)
	}
}
