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
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// timeline places each attempt of an SDK operation in virtual time: the
// first at the time the context carries, each retry after the delay the
// retryer of that operation drew for it (waitless records it: the client's
// own, or one set for the call, such as sfn.Executor's). Attempts of one
// operation share the SDK's invocation id.
type timeline struct {
	mu      sync.Mutex
	offsets map[string]time.Duration
	// drawn are the delays drawn for each operation's next attempt.
	drawn map[string]time.Duration
}

func newTimeline() *timeline {
	return &timeline{offsets: map[string]time.Duration{}, drawn: map[string]time.Duration{}}
}

// drew records the delay a retryer drew before the next attempt of the
// operation whose attempt failed with err.
func (tl *timeline) drew(err error, d time.Duration) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil || re.Response.Request == nil {
		return
	}
	id := re.Response.Request.Header.Get("Amz-Sdk-Invocation-Id")
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.drawn[id] += d
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
	if attempt > 1 {
		off += tl.drawn[id]
	}
	delete(tl.drawn, id)
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

// waitless is a retryer with no real wait and no retry quota: the delay
// its retryer draws is recorded in the timeline and waited in virtual time.
// There is no quota because on AWS every Lambda instance has its own client
// and quota, while the simulation sends all of an account's traffic through
// one client, whose shared quota would run dry at rates no single instance
// sees.
type waitless struct {
	aws.RetryerV2
	timeline *timeline
}

func (w waitless) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := w.RetryerV2.RetryDelay(attempt, err)
	if derr == nil {
		w.timeline.drew(err, d)
	}
	return 0, nil
}

func (waitless) GetRetryToken(context.Context, error) (func(error) error, error) {
	return func(error) error { return nil }, nil
}

// decorate makes a client's retry waits virtual (*retryer becomes waitless)
// and returns its transport client wrapped by wrap, which gets tl.
func decorate(tl *timeline, retryer *aws.Retryer, client HTTPClient, wrap func(next HTTPClient) HTTPClient) HTTPClient {
	*retryer = tl.virtual(*retryer)
	if client == nil {
		client = http.DefaultClient
	}
	return wrap(client)
}

// virtual returns r (the SDK's standard retryer when nil) with its waits
// made virtual on tl.
func (tl *timeline) virtual(r aws.Retryer) aws.Retryer {
	if r == nil {
		r = retry.NewStandard()
	}
	if w, ok := r.(waitless); ok {
		r = w.RetryerV2
	}
	v2, ok := r.(aws.RetryerV2)
	if !ok {
		v2 = retry.NewStandard()
	}
	return waitless{RetryerV2: v2, timeline: tl}
}
