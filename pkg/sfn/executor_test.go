package sfn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	stepfunctions "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/workflow"
)

const machineARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:kitaru-executions"

// fakeStepFunctions speaks enough of the Step Functions JSON protocol
// (awsJson1_0, X-Amz-Target: AWSStepFunctions.<Op>) for the executor: no
// engine that runs here speaks it.
type fakeStepFunctions struct {
	mu         sync.Mutex
	calls      []string                 // operations in order
	executions map[string]fakeExecution // by execution ARN
	stopErr    string                   // error type StopExecution answers, if any
}

type fakeExecution struct {
	Machine, Name, Input, Status string
}

func newFakeStepFunctions(t *testing.T) (*fakeStepFunctions, *stepfunctions.Client) {
	f := &fakeStepFunctions{executions: map[string]fakeExecution{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := stepfunctions.New(stepfunctions.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	return f, client
}

func (f *fakeStepFunctions) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		machine := body["stateMachineArn"]
		arn := strings.Replace(machine, ":stateMachine:", ":execution:", 1) + ":" + body["name"]
		if prev, exists := f.executions[arn]; exists && (prev.Input != body["input"] || prev.Status != "RUNNING") {
			fail(w, "ExecutionAlreadyExists", "Execution Already Exists: '"+arn+"'")
			return
		}
		f.executions[arn] = fakeExecution{Machine: machine, Name: body["name"], Input: body["input"], Status: "RUNNING"}
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

func fail(w http.ResponseWriter, errType, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.swf.service.v2.model#" + errType, "message": msg})
}

func (f *fakeStepFunctions) execution(arn string) (fakeExecution, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.executions[arn]
	return e, ok
}

func (f *fakeStepFunctions) setStatus(arn, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.executions[arn]
	e.Status = status
	f.executions[arn] = e
}

func runRequest(execID string) workflow.RunRequest {
	return workflow.RunRequest{
		Project: "default", ExecID: execID, Flow: "research_agent", Version: 2, Snapshot: "kitaru::research_agent::v2",
		Entrypoint: "flows/research.py:research_agent", Inputs: json.RawMessage(`{"topic":"deployment routing"}`),
		Bundle:         workflow.URLRef{Digest: "sha256:abc", URL: "https://bucket.example/bundles/sha256/abc?sig=1"},
		ResultUpload:   &workflow.URLRef{URL: "https://bucket.example/results/default/x.json?sig=2", Ref: "results/default/x.json"},
		TimeoutSeconds: 900,
	}
}

const execID = "ex_01JDZ8Q3V9M6T2K4N7P0R5S8W1"

var execARN = "arn:aws:states:eu-west-1:123456789012:execution:kitaru-executions:" + execID

func TestStartingAnExecutionNamesItAfterTheExecutionID(t *testing.T) {
	f, client := newFakeStepFunctions(t)
	e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
	req := runRequest(execID)
	if err := e.Start(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got, ok := f.execution(execARN)
	if !ok {
		t.Fatalf("no execution %s; the fake holds %v", execARN, f.executions)
	}
	if got.Machine != machineARN || got.Name != execID {
		t.Errorf("started %s named %s, want %s named %s", got.Machine, got.Name, machineARN, execID)
	}
	var input workflow.RunRequest
	if err := json.Unmarshal([]byte(got.Input), &input); err != nil {
		t.Fatalf("the input is not a RunRequest: %v", err)
	}
	if diff := cmp.Diff(req, input); diff != "" {
		t.Errorf("the runner's input (-want +got):\n%s", diff)
	}
}

func TestARetriedStartIsSuccessAndRunsOnce(t *testing.T) {
	tests := []struct {
		name   string
		change func(*workflow.RunRequest)
	}{
		{"the same request again", func(*workflow.RunRequest) {}},
		{"a request with freshly presigned URLs (ExecutionAlreadyExists)", func(r *workflow.RunRequest) { r.Bundle.URL += "&again=1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, client := newFakeStepFunctions(t)
			e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
			req := runRequest(execID)
			if err := e.Start(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			tt.change(&req)
			if err := e.Start(context.Background(), req); err != nil {
				t.Errorf("retried start = %v, want success", err)
			}
			if n := len(f.executions); n != 1 {
				t.Errorf("%d executions, want 1", n)
			}
		})
	}
}

func TestAStartThatFinishedAlreadyIsNotStartedAgain(t *testing.T) {
	f, client := newFakeStepFunctions(t)
	e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
	if err := e.Start(context.Background(), runRequest(execID)); err != nil {
		t.Fatal(err)
	}
	f.setStatus(execARN, "SUCCEEDED")
	if err := e.Start(context.Background(), runRequest(execID)); err != nil {
		t.Errorf("start of a finished execution = %v, want success", err)
	}
	if got, _ := f.execution(execARN); got.Status != "SUCCEEDED" {
		t.Errorf("status %s, want the finished execution left alone", got.Status)
	}
}

func TestAnExecutionIDThatCannotNameAnExecutionIsRefused(t *testing.T) {
	f, client := newFakeStepFunctions(t)
	e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
	for _, id := range []string{"", "ex_" + strings.Repeat("A", 78), "ex_01J/../x", "ex 1"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			if err := e.Start(context.Background(), runRequest(id)); registry.CodeOf(err) != registry.CodeInvalidArgument {
				t.Errorf("start = %v, want invalid_argument", err)
			}
		})
	}
	if len(f.calls) != 0 {
		t.Errorf("Step Functions was called %v, want no call", f.calls)
	}
}

func TestStopDerivesTheExecutionARN(t *testing.T) {
	tests := []struct {
		name       string
		start      bool
		stopErr    string
		status     string // set before the stop
		wantCode   registry.Code
		wantStatus string
	}{
		{"a running execution is aborted", true, "", "RUNNING", "", "ABORTED"},
		{"an unknown execution is not an error", false, "", "", "", ""},
		{"an execution that already ended is not an error", true, "ValidationException", "SUCCEEDED", "", "SUCCEEDED"},
		{"a running execution Step Functions won't stop is unavailable", true, "ValidationException", "RUNNING", registry.CodeUnavailable, "RUNNING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, client := newFakeStepFunctions(t)
			e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
			if tt.start {
				if err := e.Start(context.Background(), runRequest(execID)); err != nil {
					t.Fatal(err)
				}
				f.setStatus(execARN, tt.status)
			}
			f.stopErr = tt.stopErr
			err := e.Stop(context.Background(), "default", execID)
			if tt.wantCode == "" && err != nil || tt.wantCode != "" && registry.CodeOf(err) != tt.wantCode {
				t.Errorf("stop = %v, want code %q", err, tt.wantCode)
			}
			if got, _ := f.execution(execARN); got.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", got.Status, tt.wantStatus)
			}
		})
	}
}

func TestDescribeTranslatesTheStatus(t *testing.T) {
	f, client := newFakeStepFunctions(t)
	e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
	if err := e.Start(context.Background(), runRequest(execID)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status string
		want   registry.ExecStatus
	}{
		{"RUNNING", registry.StatusRunning},
		{"PENDING_REDRIVE", registry.StatusRunning},
		{"SUCCEEDED", registry.StatusCompleted},
		{"FAILED", registry.StatusFailed},
		{"TIMED_OUT", registry.StatusFailed},
		{"ABORTED", registry.StatusCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.status+" is "+string(tt.want), func(t *testing.T) {
			f.setStatus(execARN, tt.status)
			got, err := e.Describe(context.Background(), execID)
			if err != nil || got != tt.want {
				t.Errorf("describe = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	t.Run("an unknown execution is not found", func(t *testing.T) {
		if _, err := e.Describe(context.Background(), "ex_unknown"); registry.CodeOf(err) != registry.CodeNotFound {
			t.Errorf("describe = %v, want not_found", err)
		}
	})
}

func TestExecutionARN(t *testing.T) {
	tests := []struct {
		name, machine, want string
		wantErr             bool
	}{
		{"a commercial region", machineARN, execARN, false},
		{"another partition", "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:m", "arn:aws-cn:states:cn-north-1:123456789012:execution:m:" + execID, false},
		{"an activity ARN is refused", "arn:aws:states:eu-west-1:123456789012:activity:m", "", true},
		{"a malformed ARN is refused", "kitaru-executions", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := (&sfn.Executor{StateMachineARN: tt.machine}).ExecutionARN(execID)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ExecutionARN = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
