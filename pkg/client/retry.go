package client

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy says how requests are retried: reads, and writes, which
// carry one Idempotency-Key per call on every attempt so that the server
// does the work once (deploys, deletes, tag changes, rollbacks, cancels and
// invocations). Artifact announcements and token requests carry no key and
// are sent once, as before.
//
// The Python SDK (sdk/python/kitaru/retry.py, documented in
// sdk/python/README.md) mirrors this policy rule for rule: the same
// requests, statuses (retryable), attempts, backoff, jitter, Retry-After
// limit and key form. testdata/retry_policy.json holds the numbers both
// are tested against (retry_policy_test.go here); change them together.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt too; 1 sends every request once.
	MaxAttempts int
	// BaseDelay is the pause before the second attempt; each later pause
	// doubles, up to MaxDelay, and is jittered (half fixed, half random).
	BaseDelay, MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for; a
	// longer one returns the server's answer at once.
	MaxRetryAfter time.Duration
	// Sleep pauses for d or until ctx ends (returning ctx.Err()); nil waits
	// on a timer. Tests inject it to observe the pauses.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetryPolicy is 3 attempts with pauses from 100 ms, capped at 2 s,
// and Retry-After honoured up to 30 s.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, MaxRetryAfter: 30 * time.Second, Sleep: sleep}
}

// withDefaults fills the zero fields from DefaultRetryPolicy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = d.MaxRetryAfter
	}
	if p.Sleep == nil {
		p.Sleep = d.Sleep
	}
	return p
}

// errNoRetry says a pause was not taken: the context ends before it would,
// or the server asked for a longer one than MaxRetryAfter.
var errNoRetry = errors.New("no retry")

// pause waits before attempt+1: the server's Retry-After when resp has one,
// else the jittered backoff of attempt.
func (p RetryPolicy) pause(ctx context.Context, attempt int, resp *http.Response) error {
	d, ok := retryAfter(resp, time.Now())
	switch {
	case ok && d > p.MaxRetryAfter:
		return errNoRetry
	case !ok:
		d = jitter(backoff(p.BaseDelay, p.MaxDelay, attempt))
	}
	if deadline, has := ctx.Deadline(); has && time.Until(deadline) < d {
		return errNoRetry
	}
	return p.Sleep(ctx, d)
}

// backoff is base×2^(attempt-1), capped.
func backoff(base, cap time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < cap; i++ {
		d *= 2
	}
	return min(d, cap)
}

// jitter spreads d over [d/2, d] so that clients that failed together do
// not come back together.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// retryable reports whether a failed attempt may succeed when sent again:
// the server was not reached, was overloaded (429) or failed (5xx but 501).
func retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.StatusCode {
	case 0:
		return true
	case http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
