package workflow_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/workflow"
)

var testResources = workflow.Resources{
	RunnerFunction: "arn:aws:lambda:eu-west-1:123456789012:function:kitaru-runner",
	FinishFunction: "arn:aws:lambda:eu-west-1:123456789012:function:kitaru-finish",
}

func renderDefault(t *testing.T) map[string]any {
	t.Helper()
	b, err := workflow.Default().ASL(testResources)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("the ASL is not JSON: %v", err)
	}
	return m
}

func state(t *testing.T, m map[string]any, name string) map[string]any {
	t.Helper()
	s, ok := m["States"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("state %s missing from %v", name, m["States"])
	}
	return s
}

// asJSON re-encodes v so expectations can be written as JSON text.
func asJSON(t *testing.T, text string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("expectation %s: %v", text, err)
	}
	return v
}

func TestTheDefaultWorkflowRendersAsAStateMachine(t *testing.T) {
	m := renderDefault(t)
	if m["StartAt"] != workflow.StateRun {
		t.Errorf("StartAt = %v, want %s", m["StartAt"], workflow.StateRun)
	}
	if got := len(m["States"].(map[string]any)); got != 4 {
		t.Errorf("%d states, want Run, RecordSuccess, RecordFailure and Failed", got)
	}
	infraRetry := `{"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException", "Lambda.TooManyRequestsException"],
		"IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"}`
	recordRetry := `[{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 6, "BackoffRate": 2, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"}]`
	tests := []struct {
		name  string
		state string
		want  string
	}{
		{"the run invokes the runner with the whole input and keeps its payload at $.output", workflow.StateRun, `{
			"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
			"Parameters": {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:kitaru-runner", "Payload.$": "$"},
			"ResultSelector": {"Payload.$": "$.Payload"}, "ResultPath": "$.output",
			"TimeoutSeconds": 900,
			"Retry": [` + infraRetry + `],
			"Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "RecordFailure"}],
			"Next": "RecordSuccess"}`},
		{"success records the runner's answer and ends", workflow.StateRecordSuccess, `{
			"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
			"Parameters": {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:kitaru-finish",
				"Payload": {"project.$": "$.project", "exec_id.$": "$.exec_id", "output.$": "$.output.Payload"}},
			"ResultPath": null, "TimeoutSeconds": 60, "Retry": ` + recordRetry + `, "End": true}`},
		{"failure records the caught error, then fails the execution", workflow.StateRecordFailure, `{
			"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
			"Parameters": {"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:kitaru-finish",
				"Payload": {"project.$": "$.project", "exec_id.$": "$.exec_id", "error.$": "$.error"}},
			"ResultPath": null, "TimeoutSeconds": 60, "Retry": ` + recordRetry + `, "Next": "Failed"}`},
		{"the failed state carries the caught error", workflow.StateFailed, `{"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(asJSON(t, tt.want), any(state(t, m, tt.state))); diff != "" {
				t.Errorf("state %s (-want +got):\n%s", tt.state, diff)
			}
		})
	}
}

func TestTheRunIsNeverRetriedForTheFlowsOwnError(t *testing.T) {
	run := state(t, renderDefault(t), workflow.StateRun)
	for _, r := range run["Retry"].([]any) {
		for _, name := range r.(map[string]any)["ErrorEquals"].([]any) {
			switch name {
			case "States.ALL", "States.TaskFailed", "Lambda.Unknown":
				t.Errorf("the run retries %v, which includes the flow's own exceptions", name)
			}
		}
	}
}

func TestAnInvalidDefinitionDoesNotRender(t *testing.T) {
	tests := []struct {
		name   string
		change func(*workflow.Definition)
		arns   workflow.Resources
	}{
		{"a missing function ARN", func(*workflow.Definition) {}, workflow.Resources{RunnerFunction: "r"}},
		{"States.ALL before another retry", func(d *workflow.Definition) {
			d.Record.Retry = append(d.Record.Retry, workflow.Retry{ErrorEquals: []string{"X"}, IntervalSeconds: 1, BackoffRate: 1})
		}, testResources},
		{"a zero retry interval", func(d *workflow.Definition) { d.Run.Retry[0].IntervalSeconds = 0 }, testResources},
		{"a backoff rate below one", func(d *workflow.Definition) { d.Run.Retry[0].BackoffRate = 0.5 }, testResources},
		{"an unknown jitter strategy", func(d *workflow.Definition) { d.Run.Retry[0].JitterStrategy = "HALF" }, testResources},
		{"a negative timeout", func(d *workflow.Definition) { d.Run.TimeoutSeconds = -1 }, testResources},
		{"a retry naming no errors", func(d *workflow.Definition) { d.Run.Retry[0].ErrorEquals = nil }, testResources},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := workflow.Default()
			tt.change(&d)
			if _, err := d.ASL(tt.arns); err == nil {
				t.Error("rendered, want an error")
			}
		})
	}
}
