package client

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// retryPolicyFile is testdata/retry_policy.json: the retry policy the Go
// client and the Python SDK (sdk/python/kitaru/retry.py, checked by
// sdk/python/tests/test_retry.py) both follow.
type retryPolicyFile struct {
	MaxAttempts           int             `json:"max_attempts"`
	BaseDelayMS           int64           `json:"base_delay_ms"`
	MaxDelayMS            int64           `json:"max_delay_ms"`
	MaxRetryAfterMS       int64           `json:"max_retry_after_ms"`
	BackoffMSAfterAttempt []int64         `json:"backoff_ms_after_attempt"`
	RetryStatuses         []int           `json:"retry_statuses"`
	RetryWhenUnreached    bool            `json:"retry_when_unreached"`
	RetryAfter            retryAfterCases `json:"retry_after"`
	KeyPrefix             string          `json:"idempotency_key_prefix"`
	KeyRandomChars        int             `json:"idempotency_key_random_chars"`
}

type retryAfterCases struct {
	Seconds    map[string]int64 `json:"seconds"` // header value → pause in ms
	Unreadable []string         `json:"unreadable"`
}

func readRetryPolicyFile(t *testing.T) retryPolicyFile {
	t.Helper()
	data, err := os.ReadFile("../../testdata/retry_policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var f retryPolicyFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("testdata/retry_policy.json: %v", err)
	}
	return f
}

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

func TestRetryPolicyIsTheSharedOne(t *testing.T) {
	want := readRetryPolicyFile(t)
	p := DefaultRetryPolicy()

	t.Run("the default policy has the shared numbers", func(t *testing.T) {
		if p.MaxAttempts != want.MaxAttempts || p.BaseDelay != ms(want.BaseDelayMS) || p.MaxDelay != ms(want.MaxDelayMS) || p.MaxRetryAfter != ms(want.MaxRetryAfterMS) {
			t.Errorf("DefaultRetryPolicy() = {%d %v %v %v}, testdata/retry_policy.json says {%d %v %v %v}",
				p.MaxAttempts, p.BaseDelay, p.MaxDelay, p.MaxRetryAfter,
				want.MaxAttempts, ms(want.BaseDelayMS), ms(want.MaxDelayMS), ms(want.MaxRetryAfterMS))
		}
	})

	t.Run("the backoff doubles from the base up to the cap and is jittered over half to whole", func(t *testing.T) {
		for i, w := range want.BackoffMSAfterAttempt {
			attempt := i + 1
			d := backoff(p.BaseDelay, p.MaxDelay, attempt)
			if d != ms(w) {
				t.Errorf("backoff after attempt %d = %v, want %v", attempt, d, ms(w))
			}
			for range 200 {
				if j := jitter(d); j < d/2 || j > d {
					t.Fatalf("jitter(%v) = %v, outside [%v, %v]", d, j, d/2, d)
				}
			}
		}
	})

	t.Run("exactly the shared statuses and unreached servers are retried", func(t *testing.T) {
		if got := retryable(&Error{StatusCode: 0}); got != want.RetryWhenUnreached {
			t.Errorf("retryable(server not reached) = %v, want %v", got, want.RetryWhenUnreached)
		}
		for status := 100; status < 600; status++ {
			if got, w := retryable(&Error{StatusCode: status}), slices.Contains(want.RetryStatuses, status); got != w {
				t.Errorf("retryable(%d) = %v, want %v", status, got, w)
			}
		}
	})

	t.Run("Retry-After is read in whole seconds", func(t *testing.T) {
		for v, w := range want.RetryAfter.Seconds {
			resp := &http.Response{Header: http.Header{"Retry-After": {v}}}
			if d, ok := retryAfter(resp, time.Now()); !ok || d != ms(w) {
				t.Errorf("retryAfter(%q) = %v, %v; want %v, true", v, d, ok, ms(w))
			}
		}
		for _, v := range want.RetryAfter.Unreadable {
			resp := &http.Response{Header: http.Header{"Retry-After": {v}}}
			if d, ok := retryAfter(resp, time.Now()); ok {
				t.Errorf("retryAfter(%q) = %v, true; want it ignored", v, d)
			}
		}
	})

	t.Run("idempotency keys have the shared form", func(t *testing.T) {
		k := NewIdempotencyKey()
		rest, ok := strings.CutPrefix(k, want.KeyPrefix)
		if !ok || len(rest) != want.KeyRandomChars {
			t.Errorf("NewIdempotencyKey() = %q, want %q and %d random characters", k, want.KeyPrefix, want.KeyRandomChars)
		}
	})
}
