package throttle

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
)

// Quota is a token bucket quota of an API action: Burst tokens, refilled
// at PerSecond.
type Quota struct {
	Burst, PerSecond float64
}

// StandardStartExecution is the default StartExecution quota for STANDARD
// state machines, per account and Region: a bucket of 1,300 refilled at
// 300 per second (Step Functions Developer Guide, "Quotas related to API
// action throttling"; some Regions have 800 and 150).
var StandardStartExecution = Quota{Burst: 1300, PerSecond: 300}

// StartExecutions is the Step Functions throttling decorator: install it on
// a client with Option. Every StartExecution takes a token of Quota, at
// the virtual time of its context; an empty bucket answers
// ThrottlingException as Step Functions does.
type StartExecutions struct {
	Quota Quota

	timeline *timeline

	mu                  sync.Mutex
	bucket              *bucket
	latest              time.Duration
	admitted, throttled int64
}

// NewStartExecutions returns a decorator with a full bucket of q.
func NewStartExecutions(q Quota) *StartExecutions {
	return &StartExecutions{Quota: q, bucket: newBucket(q.Burst, q.PerSecond), timeline: newTimeline()}
}

// Option returns the client option that installs the decorator, with
// retry waits made virtual as Table.Option does.
func (s *StartExecutions) Option() func(*sfn.Options) {
	return func(o *sfn.Options) {
		o.HTTPClient = decorate(s.timeline, &o.Retryer, o.HTTPClient, func(next HTTPClient) HTTPClient {
			return &startClient{next: next, starts: s}
		})
	}
}

// VirtualRetryer makes the waits of r virtual, for a retryer set on a
// call rather than on the client (sfn.Executor.WrapStartRetryer): its
// delays place the retried starts in virtual time, and nothing sleeps.
func (s *StartExecutions) VirtualRetryer(r aws.Retryer) aws.Retryer { return s.timeline.virtual(r) }

// take takes one token at t, or reports that the bucket is empty.
func (s *StartExecutions) take(t time.Duration, timed bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !timed {
		t = s.latest
	}
	s.latest = max(s.latest, t)
	if !s.bucket.has(t, 1) {
		s.throttled++
		return false
	}
	s.bucket.take(1)
	s.admitted++
	return true
}

// Counts returns the StartExecution requests admitted and throttled.
func (s *StartExecutions) Counts() (admitted, throttled int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted, s.throttled
}

type startClient struct {
	next   HTTPClient
	starts *StartExecutions
}

func (c *startClient) Do(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".StartExecution") {
		return c.next.Do(r)
	}
	if !c.starts.take(c.starts.timeline.at(r)) {
		return jsonError(r, http.StatusBadRequest, `{"__type":"ThrottlingException","message":"Rate exceeded"}`), nil
	}
	resp, err := c.next.Do(r)
	if err == nil && resp.StatusCode == http.StatusOK {
		c.starts.timeline.forget(r)
	}
	return resp, err
}

// FakeStepFunctions stands in for Step Functions where the simulation
// needs only StartExecution to answer: it accepts every start, counts the
// distinct executions started, and runs nothing. Other actions answer 400.
type FakeStepFunctions struct {
	mu      sync.Mutex
	started map[string]bool
}

// Started is the number of distinct executions started.
func (f *FakeStepFunctions) Started() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.started)
}

// ServeHTTP answers StartExecution like Step Functions: a start of a name
// already started is answered with the same execution (idempotent).
func (f *FakeStepFunctions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	var in struct{ StateMachineArn, Name string }
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".StartExecution") || json.NewDecoder(r.Body).Decode(&in) != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"InvalidArn","message":"the fake Step Functions serves StartExecution only"}`))
		return
	}
	f.mu.Lock()
	if f.started == nil {
		f.started = map[string]bool{}
	}
	f.started[in.Name] = true
	f.mu.Unlock()
	arn := strings.Replace(in.StateMachineArn, ":stateMachine:", ":execution:", 1) + ":" + in.Name
	_, _ = fmt.Fprintf(w, `{"executionArn":%q,"startDate":%d}`, arn, time.Now().Unix())
}
