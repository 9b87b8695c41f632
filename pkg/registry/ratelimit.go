package registry

import (
	"errors"
	"math"
	"time"
)

// DetailRetryAfter is the error detail of a rate_limited error that says
// how many whole seconds to wait before trying again; the HTTP layer sends
// it as the Retry-After header too.
const DetailRetryAfter = "retry_after_seconds"

// DefaultRetryAfter is the wait a rate_limited error carries when its source
// gives none: the quotas behind it (DynamoDB partitions, Step Functions'
// StartExecution bucket, API Gateway's stage) refill every second.
const DefaultRetryAfter = time.Second

// RateLimited is a rate_limited error (429) asking the caller to wait
// retryAfter, rounded up to whole seconds and at least one, before trying
// again. The message should say that nothing took effect, if so.
func RateLimited(retryAfter time.Duration, format string, args ...any) *Error {
	return Errorf(CodeRateLimited, format, args...).WithDetails(DetailRetryAfter, retryAfterSeconds(retryAfter))
}

// RetryAfter is how long the first Error in err's chain asks the caller to
// wait: its retry_after_seconds detail, or DefaultRetryAfter when it is
// rate_limited without one. ok is false for errors that are not
// rate_limited.
func RetryAfter(err error) (wait time.Duration, ok bool) {
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeRateLimited {
		return 0, false
	}
	if s, isInt := e.Details[DetailRetryAfter].(int); isInt && s > 0 {
		return time.Duration(s) * time.Second, true
	}
	return DefaultRetryAfter, true
}

func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
