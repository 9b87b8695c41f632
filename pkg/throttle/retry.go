package throttle

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// errThrottled stands for the throttle a retried attempt followed, when
// asking the client's retryer how long it would have waited.
var errThrottled = errors.New("throttled by the simulation")

// timeline places each attempt of an SDK operation in virtual time: the
// first at the time the context carries, each retry after the delay the
// client's own retryer draws for it. Attempts of one operation share the
// SDK's invocation id.
type timeline struct {
	retryer aws.Retryer

	mu      sync.Mutex
	offsets map[string]time.Duration
}

func newTimeline(r aws.Retryer) *timeline {
	return &timeline{retryer: r, offsets: map[string]time.Duration{}}
}

// at returns the virtual time of the attempt r is, and whether the
// context carried a time at all.
func (tl *timeline) at(r *http.Request) (time.Duration, bool) {
	base, ok := TimeOf(r.Context())
	id := r.Header.Get("Amz-Sdk-Invocation-Id")
	attempt, last := attemptOf(r.Header.Get("Amz-Sdk-Request"))
	tl.mu.Lock()
	defer tl.mu.Unlock()
	off := tl.offsets[id]
	if attempt > 1 && tl.retryer != nil {
		if d, err := tl.retryer.RetryDelay(attempt-1, errThrottled); err == nil {
			off += d
		}
	}
	if last || attempt == 0 {
		delete(tl.offsets, id)
	} else {
		tl.offsets[id] = off
	}
	return base + off, ok
}

// forget drops an operation's offset once an attempt succeeded.
func (tl *timeline) forget(r *http.Request) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	delete(tl.offsets, r.Header.Get("Amz-Sdk-Invocation-Id"))
}

// attemptOf reads "attempt=2; max=3"; 0 when absent.
func attemptOf(h string) (attempt int, last bool) {
	maxAttempts := 0
	for _, part := range strings.Split(h, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		n, _ := strconv.Atoi(v)
		switch k {
		case "attempt":
			attempt = n
		case "max":
			maxAttempts = n
		}
	}
	return attempt, maxAttempts > 0 && attempt >= maxAttempts
}

// waitless is the client's retryer with no real wait (the wait happens in
// virtual time, see timeline) and no retry quota: on AWS every Lambda
// instance has its own client and quota, while the simulation sends all of
// an account's traffic through one client, whose shared quota would run
// dry at rates no single instance sees.
type waitless struct{ aws.RetryerV2 }

func (waitless) RetryDelay(int, error) (time.Duration, error) { return 0, nil }

func (waitless) GetRetryToken(context.Context, error) (func(error) error, error) {
	return func(error) error { return nil }, nil
}

// decorate makes a client's retry waits virtual (*retryer becomes its
// waitless decorator) and returns its transport client wrapped by wrap,
// which gets the timeline of the client's retries.
func decorate(retryer *aws.Retryer, client HTTPClient, wrap func(next HTTPClient, tl *timeline) HTTPClient) HTTPClient {
	var tl *timeline
	*retryer, tl = virtualRetries(*retryer)
	if client == nil {
		client = http.DefaultClient
	}
	return wrap(client, tl)
}

// virtualRetries returns r's decorator for a simulated client, and the
// timeline that keeps r's delays in virtual time.
func virtualRetries(r aws.Retryer) (aws.Retryer, *timeline) {
	if r == nil {
		r = retry.NewStandard()
	}
	v2, ok := retry.AddWithMaxBackoffDelay(r, 0).(aws.RetryerV2)
	if !ok {
		return r, newTimeline(r)
	}
	return waitless{v2}, newTimeline(r)
}
