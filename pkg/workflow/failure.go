package workflow

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
)

// ErrorAnswer is the runner's answer when a run fails (functions/runner):
// {"error": {type, message, traceback, details}}. The process prints it on
// stdout; the Lambda handler raises it as the message of its error report.
type ErrorAnswer struct {
	Error *struct {
		Type      string         `json:"type"`
		Message   string         `json:"message"`
		Traceback string         `json:"traceback"`
		Details   map[string]any `json:"details"`
	} `json:"error"`
}

// RunError is the failure the answer reports; a.Error must be set.
func (a ErrorAnswer) RunError() *RunError {
	e := &RunError{Type: a.Error.Type, Message: a.Error.Message, Traceback: a.Error.Traceback}
	if len(a.Error.Details) > 0 {
		e.Details = a.Error.Details
	}
	return e
}

// runnerAnswer reads the runner's error answer from a Lambda report: its
// errorMessage, of the errorType the answer names (the runner names the
// exception it raises after it). False when the message is not one: another
// function's error, or a cause Step Functions cut short.
func runnerAnswer(errorType, message string) (*RunError, bool) {
	var a ErrorAnswer
	if json.Unmarshal([]byte(message), &a) != nil || a.Error == nil || a.Error.Type == "" || a.Error.Type != errorType {
		return nil, false
	}
	return a.RunError(), true
}

// FailureFromStates turns a Step Functions error ({"Error", "Cause"}, as the
// Catch puts it at $.error) into the execution's error. For a Lambda function
// error the cause is the runtime's JSON report {"errorMessage", "errorType",
// "stackTrace", "requestId"}. The runner's own failure carries its
// ErrorAnswer as errorMessage: that is the error, details and all. Other
// reports keep their message, and the stack trace joined into lines is the
// traceback. Any other cause is kept as the message. A runner function that
// timed out or died is reported as kitaru dev reports it: States.Timeout or
// Runner.Crashed.
func FailureFromStates(errName, cause string) registry.ExecError {
	if errName == "" {
		errName = ErrorTaskFailed
	}
	if errName == ErrorTimeout || errName == ErrorRunnerTimedOut {
		return timeoutError(0)
	}
	var report struct {
		ErrorMessage *string         `json:"errorMessage"`
		ErrorType    string          `json:"errorType"`
		StackTrace   json.RawMessage `json:"stackTrace"`
	}
	if json.Unmarshal([]byte(cause), &report) == nil && (report.ErrorMessage != nil || report.ErrorType != "") {
		if report.ErrorMessage != nil {
			if re, ok := runnerAnswer(report.ErrorType, *report.ErrorMessage); ok {
				return re.ExecError()
			}
		}
		e := registry.ExecError{Type: report.ErrorType, Traceback: stackTrace(report.StackTrace)}
		if e.Type == "" {
			e.Type = errName
		}
		if report.ErrorMessage != nil {
			e.Message = *report.ErrorMessage
		}
		return asRunnerFailure(e)
	}
	if cause == "" {
		cause = fmt.Sprintf("the run failed with %s and no further cause", errName)
	}
	return asRunnerFailure(registry.ExecError{Type: errName, Message: cause})
}

// lambdaRunnerFailures are Lambda's names for a runner that timed out or
// died, given the types kitaru dev reports for the same failure.
var lambdaRunnerFailures = map[string]string{
	"Sandbox.Timedout":  ErrorTimeout,       // the function's own timeout
	"Runtime.ExitError": ErrorRunnerCrashed, // the runtime process died (signal, out of memory)
	"Lambda.Unknown":    ErrorRunnerCrashed, // the function ended without an error type
}

func asRunnerFailure(e registry.ExecError) registry.ExecError {
	if t, ok := lambdaRunnerFailures[e.Type]; ok {
		e.Message = fmt.Sprintf("%s (Lambda reported %s)", e.Message, e.Type)
		e.Type = t
	}
	return e
}

// stackTrace joins a runtime's stack trace: a list of frames (Python gives
// "  File …, line N, in f\n    code\n" per frame) or already one string.
func stackTrace(raw json.RawMessage) string {
	var frames []string
	if json.Unmarshal(raw, &frames) == nil {
		for i, f := range frames {
			frames[i] = strings.TrimRight(f, "\n")
		}
		return strings.Join(frames, "\n")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// timeoutError is a run stopped by its step's TimeoutSeconds (0: unknown).
func timeoutError(seconds int) registry.ExecError {
	msg := "the flow exceeded its timeout and was stopped; make it finish sooner or split it into smaller flows"
	if seconds > 0 {
		msg = fmt.Sprintf("the flow exceeded its timeout of %d seconds and was stopped; make it finish sooner or split it into smaller flows", seconds)
	}
	return registry.ExecError{Type: ErrorTimeout, Message: msg}
}
