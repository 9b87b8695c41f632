package client

import (
	"errors"
	"fmt"

	"github.com/kitaru/deployments/pkg/registry"
)

// Sentinels for errors.Is: each matches every error the server answered
// with its code (through *Error's Unwrap), e.g.
// errors.Is(err, client.ErrNotFound) for an unknown flow, tag or version.
var (
	// ErrInvalidArgument: a name, number or field is invalid (400), e.g. a
	// selector with both a tag and a version.
	ErrInvalidArgument = registry.ErrInvalidArgument
	// ErrUnauthenticated: no or invalid credentials (401).
	ErrUnauthenticated = registry.ErrUnauthenticated
	// ErrPermissionDenied: the credential may not do this (403), e.g. a
	// consumer key deploying.
	ErrPermissionDenied = registry.ErrPermissionDenied
	// ErrNotFound: the flow, version, tag or execution does not exist (404).
	ErrNotFound = registry.ErrNotFound
	// ErrConflict: the change contradicts the routes (409), e.g. an
	// ambiguous shared tag or deleting a version that holds an exclusive tag.
	ErrConflict = registry.ErrConflict
	// ErrPreconditionFailed: the tag changed since TagOptions.IfRevision (412).
	ErrPreconditionFailed = registry.ErrPreconditionFailed
	// ErrPayloadTooLarge: a body or inputs over the limits (413).
	ErrPayloadTooLarge = registry.ErrPayloadTooLarge
	// ErrUnprocessable: well-formed but impossible (422), e.g. inputs that
	// do not match the deployment's schema.
	ErrUnprocessable = registry.ErrUnprocessable
	// ErrRateLimited: too many requests (429), after the retries.
	ErrRateLimited = registry.ErrRateLimited
	// ErrInternal: the server failed (500), after the retries.
	ErrInternal = registry.ErrInternal
	// ErrUnavailable: the server was unreachable or overloaded (502–504),
	// after the retries.
	ErrUnavailable = registry.ErrUnavailable
)

// ErrCancelled is wrapped by the error Wait returns for a cancelled
// execution.
var ErrCancelled = errors.New("execution cancelled")

// ExecutionError is the error Wait returns for an execution that failed:
// the flow's exception (Type is the Python class, e.g. ValueError) or the
// platform's (States.Timeout, Runner.Crashed, StartFailed).
type ExecutionError struct {
	Type      string
	Message   string
	Traceback string
	// Execution is the failed execution as last read.
	Execution registry.Execution
}

// Error names the execution, the exception type and its message.
func (e *ExecutionError) Error() string {
	return fmt.Sprintf("execution %s of %s version %d failed: %s: %s", e.Execution.ExecID, e.Execution.Flow, e.Execution.Version, e.Type, e.Message)
}

// outcomeError is nil for a completed execution, an *ExecutionError for a
// failed one and an ErrCancelled for a cancelled one.
func outcomeError(e registry.Execution) error {
	switch e.Status {
	case registry.StatusFailed:
		ee := &ExecutionError{Execution: e}
		if e.Error != nil {
			ee.Type, ee.Message, ee.Traceback = e.Error.Type, e.Error.Message, e.Error.Traceback
		}
		return ee
	case registry.StatusCancelled:
		return fmt.Errorf("execution %s of %s version %d was cancelled: %w", e.ExecID, e.Flow, e.Version, ErrCancelled)
	}
	return nil
}
