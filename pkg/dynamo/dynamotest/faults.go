package dynamotest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Faults is a fault-injecting decorator of a DynamoDB client's HTTP client.
// Each request draws one fault at the given rates:
//   - Throttle: answered 400 ThrottlingException without reaching the engine;
//   - ServerError: answered 500 InternalServerError without reaching the engine;
//   - LostResponse: sent to the engine and applied there, but the caller gets
//     a timeout instead of the answer (a timeout after commit).
//
// The SDK's retryer sees what it would see from DynamoDB and retries, so the
// store under test meets re-sent requests whose first copy already committed.
// Writes only (reads are left alone unless AllOperations is set).
type Faults struct {
	Throttle, ServerError, LostResponse float64
	AllOperations                       bool
	// ThrottleCode is the error code of an injected throttle; empty is
	// ThrottlingException (DynamoDB also answers
	// ProvisionedThroughputExceededException and RequestLimitExceeded).
	ThrottleCode string
	// Seed makes the sequence of faults repeatable.
	Seed uint64

	once sync.Once
	mu   sync.Mutex
	rng  *rand.Rand

	// Counts of injected faults, by kind.
	Throttled, Failed, Lost atomic.Int64
}

// Option returns the client option that installs the decorator.
func (f *Faults) Option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) { o.HTTPClient = &faultyClient{next: o.HTTPClient, faults: f} }
}

// String reports what was injected.
func (f *Faults) String() string {
	return fmt.Sprintf("%d throttled, %d server errors, %d lost responses", f.Throttled.Load(), f.Failed.Load(), f.Lost.Load())
}

type faultKind int

const (
	noFault faultKind = iota
	throttle
	serverError
	lostResponse
)

func (f *Faults) draw() faultKind {
	f.once.Do(func() { f.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15)) })
	f.mu.Lock()
	p := f.rng.Float64()
	f.mu.Unlock()
	switch {
	case p < f.Throttle:
		return throttle
	case p < f.Throttle+f.ServerError:
		return serverError
	case p < f.Throttle+f.ServerError+f.LostResponse:
		return lostResponse
	}
	return noFault
}

type faultyClient struct {
	next   dynamodb.HTTPClient
	faults *Faults
}

// writes are the operations that change the table.
var writes = []string{"UpdateItem", "PutItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

func (c *faultyClient) Do(r *http.Request) (*http.Response, error) {
	target := r.Header.Get("X-Amz-Target")
	isWrite := false
	for _, w := range writes {
		isWrite = isWrite || strings.HasSuffix(target, "."+w)
	}
	if !isWrite && !c.faults.AllOperations {
		return c.next.Do(r)
	}
	switch c.faults.draw() {
	case throttle:
		c.faults.Throttled.Add(1)
		code := c.faults.ThrottleCode
		if code == "" {
			code = "ThrottlingException"
		}
		return errorResponse(r, http.StatusBadRequest, code, "Rate of requests exceeds the allowed throughput (injected)"), nil
	case serverError:
		c.faults.Failed.Add(1)
		return errorResponse(r, http.StatusInternalServerError, "InternalServerError", "Internal server error (injected)"), nil
	case lostResponse:
		resp, err := c.next.Do(r)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		c.faults.Lost.Add(1)
		return nil, timeoutError{}
	}
	return c.next.Do(r)
}

func errorResponse(r *http.Request, status int, code, msg string) *http.Response {
	body := fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, code, msg)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"injected"}},
		Body:   io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body)), Request: r,
	}
}

// timeoutError is what a client sees when the answer never arrives.
type timeoutError struct{}

func (timeoutError) Error() string {
	return "injected: timeout awaiting response headers (the request was applied)"
}
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
