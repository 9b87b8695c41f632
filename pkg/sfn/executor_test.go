package sfn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/sfn/sfntest"
	"github.com/kitaru/deployments/pkg/workflow"
)

const machineARN = "arn:aws:states:eu-west-1:123456789012:stateMachine:kitaru-executions"

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
	f, client := sfntest.NewFakeStepFunctions(t)
	e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
	req := runRequest(execID)
	if err := e.Start(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got, ok := f.Execution(execARN)
	if !ok {
		t.Fatalf("no execution %s; the fake holds %d", execARN, f.Executions())
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
			f, client := sfntest.NewFakeStepFunctions(t)
			e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
			req := runRequest(execID)
			if err := e.Start(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			tt.change(&req)
			if err := e.Start(context.Background(), req); err != nil {
				t.Errorf("retried start = %v, want success", err)
			}
			if n := f.Executions(); n != 1 {
				t.Errorf("%d executions, want 1", n)
			}
		})
	}
}

func TestAStartThatFinishedAlreadyIsNotStartedAgain(t *testing.T) {
	f, client := sfntest.NewFakeStepFunctions(t)
	e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
	if err := e.Start(context.Background(), runRequest(execID)); err != nil {
		t.Fatal(err)
	}
	f.SetStatus(execARN, "SUCCEEDED")
	if err := e.Start(context.Background(), runRequest(execID)); err != nil {
		t.Errorf("start of a finished execution = %v, want success", err)
	}
	if got, _ := f.Execution(execARN); got.Status != "SUCCEEDED" {
		t.Errorf("status %s, want the finished execution left alone", got.Status)
	}
}

func TestAnExecutionIDThatCannotNameAnExecutionIsRefused(t *testing.T) {
	f, client := sfntest.NewFakeStepFunctions(t)
	e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
	for _, id := range []string{"", "ex_" + strings.Repeat("A", 78), "ex_01J/../x", "ex 1"} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			if err := e.Start(context.Background(), runRequest(id)); registry.CodeOf(err) != registry.CodeInvalidArgument {
				t.Errorf("start = %v, want invalid_argument", err)
			}
		})
	}
	if len(f.Calls()) != 0 {
		t.Errorf("Step Functions was called %v, want no call", f.Calls())
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
			f, client := sfntest.NewFakeStepFunctions(t)
			e := &sfn.Executor{Client: client, StateMachineARN: machineARN}
			if tt.start {
				if err := e.Start(context.Background(), runRequest(execID)); err != nil {
					t.Fatal(err)
				}
				f.SetStatus(execARN, tt.status)
			}
			f.FailStops(tt.stopErr)
			err := e.Stop(context.Background(), "default", execID)
			if tt.wantCode == "" && err != nil || tt.wantCode != "" && registry.CodeOf(err) != tt.wantCode {
				t.Errorf("stop = %v, want code %q", err, tt.wantCode)
			}
			if got, _ := f.Execution(execARN); got.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", got.Status, tt.wantStatus)
			}
		})
	}
}

func TestDescribeTranslatesTheStatus(t *testing.T) {
	f, client := sfntest.NewFakeStepFunctions(t)
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
			f.SetStatus(execARN, tt.status)
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
