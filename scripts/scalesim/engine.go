package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/kitaru/deployments/pkg/throttle"
)

// forgetfulEngine is minidyn in process, except that a transaction which
// only creates fresh items (every action a Put, unconditioned or
// conditioned on attribute_not_exists: an invoke's execution record, its listing copy and
// its running-index item) is acknowledged without being stored. minidyn
// copies the whole table for every transaction (core.Table.Snapshot, to
// roll back), so a table growing by thousands of execution records a
// second would make each invoke slower than the last; the workload never
// reads those records back. The throttling decorator sits above this
// engine, so such a transaction is analysed and charged like any other.
type forgetfulEngine struct {
	next      throttle.HTTPClient
	forgotten atomic.Int64
}

func (e *forgetfulEngine) Do(r *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") || r.Body == nil {
		return e.next.Do(r)
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !createsOnly(body) {
		return e.next.Do(r)
	}
	e.forgotten.Add(1)
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
		Body:   io.NopCloser(strings.NewReader("{}")), ContentLength: 2, Request: r,
	}, nil
}

// createsOnly reports whether a TransactWriteItems request only puts
// items, none of which may exist yet or whose old value nobody checks.
func createsOnly(body []byte) bool {
	var in struct {
		TransactItems []struct {
			Put *struct{ ConditionExpression string }
		}
	}
	if json.Unmarshal(body, &in) != nil || len(in.TransactItems) == 0 {
		return false
	}
	for _, it := range in.TransactItems {
		if it.Put == nil || it.Put.ConditionExpression != "" && !strings.HasPrefix(it.Put.ConditionExpression, "attribute_not_exists") {
			return false
		}
	}
	return true
}
