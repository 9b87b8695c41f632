package workflow

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
)

// FailureFromStates turns a Step Functions error ({"Error", "Cause"}, as the
// Catch puts it at $.error) into the execution's error. For a Lambda function
// error the cause is the runtime's JSON report {"errorMessage", "errorType",
// "stackTrace", "requestId"}; the traceback is the stack trace joined into
// lines. Any other cause is kept as the message.
func FailureFromStates(errName, cause string) registry.ExecError {
	if errName == "" {
		errName = ErrorTaskFailed
	}
	if errName == ErrorTimeout {
		return timeoutError(0)
	}
	var report struct {
		ErrorMessage *string         `json:"errorMessage"`
		ErrorType    string          `json:"errorType"`
		StackTrace   json.RawMessage `json:"stackTrace"`
	}
	if json.Unmarshal([]byte(cause), &report) == nil && (report.ErrorMessage != nil || report.ErrorType != "") {
		e := registry.ExecError{Type: report.ErrorType, Traceback: stackTrace(report.StackTrace)}
		if e.Type == "" {
			e.Type = errName
		}
		if report.ErrorMessage != nil {
			e.Message = *report.ErrorMessage
		}
		return e
	}
	if cause == "" {
		return registry.ExecError{Type: errName, Message: fmt.Sprintf("the run failed with %s and no further cause", errName)}
	}
	return registry.ExecError{Type: errName, Message: cause}
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
