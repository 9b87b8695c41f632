// Package sfntest holds FakeStepFunctions, for tests of code that starts
// executions through the real pkg/sfn.Executor and the real SDK: no engine
// that runs here speaks the Step Functions API. It is imported by tests only.
package sfntest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	stepfunctions "github.com/aws/aws-sdk-go-v2/service/sfn"
)

// FakeStepFunctions speaks enough of the Step Functions JSON protocol
// (awsJson1_0, X-Amz-Target: AWSStepFunctions.<Op>) for the executor:
// StartExecution, StopExecution and DescribeExecution of any state machine.
type FakeStepFunctions struct {
	mu         sync.Mutex
	calls      []string                 // operations in order
	executions map[string]FakeExecution // by execution ARN
	stopErr    string                   // error type StopExecution answers, if any
	startErr   string                   // error type StartExecution answers, if any
	startErrs  int                      // how many more starts answer startErr; < 0: every one
}

// FakeExecution is one execution the fake started.
type FakeExecution struct {
	Machine, Name, Input, Status string
}

// NewFakeStepFunctions serves a fake until t ends and returns a client of it.
func NewFakeStepFunctions(t testing.TB) (*FakeStepFunctions, *stepfunctions.Client) {
	f := &FakeStepFunctions{executions: map[string]FakeExecution{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := stepfunctions.New(stepfunctions.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return f, client
}

// ServeHTTP answers one Step Functions request.
func (f *FakeStepFunctions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSStepFunctions.")
	var body map[string]string
	if !ok || r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&body) != nil {
		fail(w, "UnknownOperationException", "not a Step Functions request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op)
	switch op {
	case "StartExecution":
		if f.startErrs != 0 {
			f.startErrs--
			fail(w, f.startErr, "Rate exceeded")
			return
		}
		machine := body["stateMachineArn"]
		arn := strings.Replace(machine, ":stateMachine:", ":execution:", 1) + ":" + body["name"]
		if prev, exists := f.executions[arn]; exists && (prev.Input != body["input"] || prev.Status != "RUNNING") {
			fail(w, "ExecutionAlreadyExists", "Execution Already Exists: '"+arn+"'")
			return
		}
		f.executions[arn] = FakeExecution{Machine: machine, Name: body["name"], Input: body["input"], Status: "RUNNING"}
		answer(w, map[string]any{"executionArn": arn, "startDate": 1.7e9})
	case "StopExecution":
		if f.stopErr != "" {
			fail(w, f.stopErr, "cannot stop")
			return
		}
		e, exists := f.executions[body["executionArn"]]
		if !exists {
			fail(w, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+body["executionArn"]+"'")
			return
		}
		e.Status = "ABORTED"
		f.executions[body["executionArn"]] = e
		answer(w, map[string]any{"stopDate": 1.7e9})
	case "DescribeExecution":
		e, exists := f.executions[body["executionArn"]]
		if !exists {
			fail(w, "ExecutionDoesNotExist", "Execution Does Not Exist: '"+body["executionArn"]+"'")
			return
		}
		answer(w, map[string]any{"executionArn": body["executionArn"], "stateMachineArn": e.Machine, "name": e.Name, "status": e.Status, "startDate": 1.7e9, "input": e.Input})
	default:
		fail(w, "UnknownOperationException", op)
	}
}

func answer(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(v)
}

// fail answers an error as Step Functions does: HTTP 400 with its type
// (ThrottlingException too: AWS's Common Errors page gives it status 400).
func fail(w http.ResponseWriter, errType, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + errType, "message": msg})
}

// Execution returns the execution with this ARN, if the fake started it.
func (f *FakeStepFunctions) Execution(arn string) (FakeExecution, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.executions[arn]
	return e, ok
}

// Executions counts the executions the fake started.
func (f *FakeStepFunctions) Executions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.executions)
}

// Calls returns the operations called so far, in order.
func (f *FakeStepFunctions) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// SetStatus sets the status of the execution with this ARN.
func (f *FakeStepFunctions) SetStatus(arn, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.executions[arn]
	e.Status = status
	f.executions[arn] = e
}

// FailStops makes StopExecution answer errType ("" answers normally).
func (f *FakeStepFunctions) FailStops(errType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopErr = errType
}

// FailStarts makes the next n StartExecution calls answer errType (such
// as ThrottlingException) and start nothing; n < 0 means every call until
// FailStarts(…, 0).
func (f *FakeStepFunctions) FailStarts(errType string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startErr, f.startErrs = errType, n
}
