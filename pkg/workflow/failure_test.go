package workflow_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

func TestFailureFromStates(t *testing.T) {
	pythonCause := `{"errorMessage": "topic must not be empty", "errorType": "ValueError", "requestId": "5f0c…",
		"stackTrace": ["  File \"/var/task/runner.py\", line 88, in handler\n    return run(event)\n", "  File \"/tmp/b/flows/research.py\", line 12, in research_agent\n    raise ValueError(\"topic must not be empty\")\n"]}`
	runnerCause := lambdaReport("ValueError", `{"error":{"type":"ValueError","message":"no sources",`+
		`"traceback":"Traceback (most recent call last):\n  File \"flows/f.py\", line 3, in f\n    raise ValueError(\"no sources\")\nValueError: no sources\n",`+
		`"details":{"runner_traceback":"Traceback (most recent call last):\n  File \"/var/task/runner.py\", line 509, in run\n..."}}}`)
	tests := []struct {
		name    string
		errName string
		cause   string
		want    registry.ExecError
	}{
		{"a Python exception keeps its type and message and joins its stack trace", "ValueError", pythonCause, registry.ExecError{
			Type: "ValueError", Message: "topic must not be empty",
			Traceback: "  File \"/var/task/runner.py\", line 88, in handler\n    return run(event)\n  File \"/tmp/b/flows/research.py\", line 12, in research_agent\n    raise ValueError(\"topic must not be empty\")",
		}},
		{"the runner's error answer in the message is the execution's error, details and all", "ValueError", runnerCause, registry.ExecError{
			Type: "ValueError", Message: "no sources",
			Traceback: "Traceback (most recent call last):\n  File \"flows/f.py\", line 3, in f\n    raise ValueError(\"no sources\")\nValueError: no sources\n",
			Details:   map[string]any{"runner_traceback": "Traceback (most recent call last):\n  File \"/var/task/runner.py\", line 509, in run\n..."},
		}},
		{"a runner error answer without details has none", "KeyError",
			lambdaReport("KeyError", `{"error":{"type":"KeyError","message":"'x'","traceback":"Traceback ..."}}`),
			registry.ExecError{Type: "KeyError", Message: "'x'", Traceback: "Traceback ..."}},
		{"a message that is JSON but not a runner error answer stays the message", "ValueError",
			lambdaReport("ValueError", `{"error": "not an answer"}`),
			registry.ExecError{Type: "ValueError", Message: `{"error": "not an answer"}`, Traceback: "  File \"/var/task/runner.py\", line 500, in handler"}},
		{"a runner error answer of another type than the report's stays the message", "KeyError",
			lambdaReport("KeyError", `{"error":{"type":"ValueError","message":"m"}}`),
			registry.ExecError{Type: "KeyError", Message: `{"error":{"type":"ValueError","message":"m"}}`, Traceback: "  File \"/var/task/runner.py\", line 500, in handler"}},
		{"a runner error answer without a type stays the message", "ValueError",
			lambdaReport("ValueError", `{"error": {"message": "m"}}`),
			registry.ExecError{Type: "ValueError", Message: `{"error": {"message": "m"}}`, Traceback: "  File \"/var/task/runner.py\", line 500, in handler"}},
		{"a stack trace given as one string is kept", "Error", `{"errorMessage": "boom", "errorType": "Error", "stackTrace": "at f (x.js:1)"}`,
			registry.ExecError{Type: "Error", Message: "boom", Traceback: "at f (x.js:1)"}},
		{"a report without an error type takes the error name", "Custom.Error", `{"errorMessage": "no type here"}`,
			registry.ExecError{Type: "Custom.Error", Message: "no type here"}},
		{"the runner function's own timeout is a timeout", "Sandbox.Timedout", `{"errorMessage": "RequestId: 1 Error: Task timed out after 900.00 seconds", "errorType": "Sandbox.Timedout"}`,
			registry.ExecError{Type: "States.Timeout", Message: "RequestId: 1 Error: Task timed out after 900.00 seconds (Lambda reported Sandbox.Timedout)"}},
		{"a runner runtime that died is a crashed runner", "Runtime.ExitError", `{"errorMessage": "RequestId: 1 Error: Runtime exited with error: signal: killed", "errorType": "Runtime.ExitError"}`,
			registry.ExecError{Type: "Runner.Crashed", Message: "RequestId: 1 Error: Runtime exited with error: signal: killed (Lambda reported Runtime.ExitError)"}},
		{"the runner stopping its flow at the Lambda's deadline is a timeout", "Runner.TimedOut",
			`{"errorMessage": "{\"error\":{\"type\":\"Runner.TimedOut\",\"message\":\"stopped\",\"traceback\":\"\",\"details\":{}}}", "errorType": "Runner.TimedOut"}`,
			registry.ExecError{Type: "States.Timeout", Message: "the flow exceeded its timeout and was stopped; make it finish sooner or split it into smaller flows"}},
		{"a step timeout says the flow exceeded its timeout", "States.Timeout", "",
			registry.ExecError{Type: "States.Timeout", Message: "the flow exceeded its timeout and was stopped; make it finish sooner or split it into smaller flows"}},
		{"a cause that is not JSON is the message", "States.Runtime", "An error occurred while executing the state 'Run'.",
			registry.ExecError{Type: "States.Runtime", Message: "An error occurred while executing the state 'Run'."}},
		{"a function that ended without an error type is a crashed runner", "Lambda.Unknown", "The cause could not be determined because Lambda did not return an error type.",
			registry.ExecError{Type: "Runner.Crashed", Message: "The cause could not be determined because Lambda did not return an error type. (Lambda reported Lambda.Unknown)"}},
		{"JSON that is not a Lambda report is the message", "Custom", `{"detail": 1}`,
			registry.ExecError{Type: "Custom", Message: `{"detail": 1}`}},
		{"an empty cause names the error", "Lambda.ServiceException", "",
			registry.ExecError{Type: "Lambda.ServiceException", Message: "the run failed with Lambda.ServiceException and no further cause"}},
		{"no error name is a task failure", "", "boom", registry.ExecError{Type: "States.TaskFailed", Message: "boom"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, workflow.FailureFromStates(tt.errName, tt.cause)); diff != "" {
				t.Errorf("FailureFromStates (-want +got):\n%s", diff)
			}
		})
	}
}

// lambdaReport is the error report Lambda's Python runtime makes of the
// runner's RunFailed: errorType and errorMessage, and the handler's frame.
func lambdaReport(errorType, message string) string {
	b, err := json.Marshal(map[string]any{
		"errorType": errorType, "errorMessage": message, "requestId": "5f0c0a4e-0000-4000-8000-000000000000",
		"stackTrace": []string{"  File \"/var/task/runner.py\", line 500, in handler\n"},
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestOutcomeFromRecord(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		payload string
		want    registry.Outcome
		code    registry.Code // "" when no error is expected
	}{
		{"a result completes the execution", `{"project": "p", "exec_id": "ex_1", "output": {"result": {"answer": 42}}}`,
			registry.Outcome{Status: registry.StatusCompleted, Result: []byte(`{"answer": 42}`), At: now}, ""},
		{"a null result completes the execution with null", `{"project": "p", "exec_id": "ex_1", "output": {"result": null}}`,
			registry.Outcome{Status: registry.StatusCompleted, Result: []byte(`null`), At: now}, ""},
		{"a result ref completes the execution with the ref", `{"project": "p", "exec_id": "ex_1", "output": {"result_ref": "results/p/ex_1.json"}}`,
			registry.Outcome{Status: registry.StatusCompleted, ResultRef: "results/p/ex_1.json", At: now}, ""},
		{"an answer without a result fails the execution as a crashed runner", `{"project": "p", "exec_id": "ex_1", "output": {}}`,
			registry.Outcome{Status: registry.StatusFailed, At: now, Error: &registry.ExecError{Type: "Runner.Crashed", Message: "the runner answered without a result or result_ref; check the runner's logs"}}, ""},
		{"a caught error fails the execution", `{"project": "p", "exec_id": "ex_1", "error": {"Error": "KeyError", "Cause": "{\"errorMessage\": \"'x'\", \"errorType\": \"KeyError\", \"stackTrace\": []}"}}`,
			registry.Outcome{Status: registry.StatusFailed, At: now, Error: &registry.ExecError{Type: "KeyError", Message: "'x'"}}, ""},
		{"a timeout fails the execution with States.Timeout", `{"project": "p", "exec_id": "ex_1", "error": {"Error": "States.Timeout", "Cause": ""}}`,
			registry.Outcome{Status: registry.StatusFailed, At: now, Error: &registry.ExecError{Type: "States.Timeout", Message: "the flow exceeded its timeout and was stopped; make it finish sooner or split it into smaller flows"}}, ""},
		{"a payload that is not JSON is invalid", `nope`, registry.Outcome{}, registry.CodeInvalidArgument},
		{"a payload without an exec_id is invalid", `{"project": "p", "output": {"result": 1}}`, registry.Outcome{}, registry.CodeInvalidArgument},
		{"a payload with both output and error is invalid", `{"project": "p", "exec_id": "ex_1", "output": {"result": 1}, "error": {"Error": "E"}}`, registry.Outcome{}, registry.CodeInvalidArgument},
		{"a payload with neither output nor error is invalid", `{"project": "p", "exec_id": "ex_1"}`, registry.Outcome{}, registry.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			project, execID, got, err := workflow.OutcomeFromRecord([]byte(tt.payload), now)
			if tt.code != "" {
				if registry.CodeOf(err) != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if project != "p" || execID != "ex_1" {
				t.Errorf("record names %s/%s, want p/ex_1", project, execID)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(sameJSON)); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

// sameJSON compares raw JSON ignoring insignificant whitespace.
func sameJSON(a, b json.RawMessage) bool {
	return strings.Join(strings.Fields(string(a)), "") == strings.Join(strings.Fields(string(b)), "")
}
