package sfn

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/kitaru/deployments/pkg/registry"
)

// StartRetry is how Start retries a StartExecution that Step Functions
// throttled. STANDARD state machines share one StartExecution token bucket
// per account and region (AWS's published quota: bucket 1,300, refill 300
// per second in the largest regions; 800 and 150 elsewhere), so a throttle
// usually clears within a second.
//
// The retry is the SDK's own retryer, configured here for this one call,
// rather than a loop in pkg/invoke: it already knows which errors are
// throttles, honours the service's retry hints and keeps the SDK's
// client-side retry quota, which stops retrying when most calls of this
// Lambda instance fail, so an account-wide overload is not multiplied by
// every invoke's retries.
type StartRetry struct {
	// MaxAttempts counts the first call.
	MaxAttempts int
	// BaseDelay is the ceiling of the first retry's delay; each retry
	// doubles it, up to MaxDelay. Every delay is drawn uniformly below its
	// ceiling (full jitter), so throttled invokes do not retry in step.
	BaseDelay, MaxDelay time.Duration
}

// DefaultStartRetry makes 5 attempts with at most 0.2+0.4+0.8+1.6 = 3 s of
// waiting in all: an invoke that ends in 429 still answers within a few
// seconds, well inside API Gateway's 29 s integration timeout and the invoke
// function's 30 s (infra/stack.go), and holds a Lambda instance no longer
// than that. A longer wait would only move the queue into Lambda
// concurrency; past it the caller gets 429 with Retry-After and backs off.
var DefaultStartRetry = StartRetry{MaxAttempts: 5, BaseDelay: 200 * time.Millisecond, MaxDelay: 2 * time.Second}

// MaxWait is the longest the retries of one Start can sleep in all.
func (r StartRetry) MaxWait() time.Duration {
	var total time.Duration
	for attempt := 1; attempt < r.MaxAttempts; attempt++ {
		total += r.ceiling(attempt)
	}
	return total
}

func (r StartRetry) ceiling(attempt int) time.Duration {
	return min(r.MaxDelay, r.BaseDelay<<(attempt-1))
}

// BackoffDelay implements retry.BackoffDelayer: full jitter below the
// attempt's ceiling.
func (r StartRetry) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	c := r.ceiling(attempt)
	if c <= 0 {
		return 0, nil
	}
	return rand.N(c), nil
}

// throttleCodes are the error codes by which AWS says "slow down": the
// SDK's own list (Step Functions answers ThrottlingException, HTTP 400), and
// KMS throttling a state machine encrypted with a customer key.
var throttleCodes = func() map[string]struct{} {
	codes := map[string]struct{}{"KmsThrottlingException": {}}
	for c := range retry.DefaultThrottleErrorCodes {
		codes[c] = struct{}{}
	}
	return codes
}()

// newRetryer builds the retryer of StartExecution.
func (r StartRetry) newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = r.MaxAttempts
		o.MaxBackoff = r.MaxDelay
		o.Backoff = r
		o.Retryables = append(o.Retryables, retry.RetryableErrorCode{Codes: throttleCodes})
	})
}

// executionLimitRetryAfter is the wait asked for when the account has
// 1,000,000 open STANDARD executions (ExecutionLimitExceeded): it clears
// only as executions end.
const executionLimitRetryAfter = time.Minute

// rateLimited turns a StartExecution refusal for rate or quota into a
// rate_limited error carrying the wait; other errors give ok=false.
func rateLimited(err error) (error, bool) {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return nil, false
	}
	if api.ErrorCode() == "ExecutionLimitExceeded" {
		return errors.Join(err, registry.RateLimited(executionLimitRetryAfter,
			"this account has as many open Step Functions executions as its quota allows (cancel executions you do not need), so nothing was started")), true
	}
	if _, throttled := throttleCodes[api.ErrorCode()]; throttled {
		return errors.Join(err, registry.RateLimited(registry.DefaultRetryAfter,
			"Step Functions is throttling execution starts on this account right now, so nothing was started")), true
	}
	return nil, false
}
