package registry

import (
	"errors"
	"fmt"
)

// Code classifies an Error. The HTTP layer maps each code to one status.
type Code string

// The error codes of the HTTP contract (DESIGN.md §4).
const (
	CodeInvalidArgument    Code = "invalid_argument"
	CodeUnauthenticated    Code = "unauthenticated"
	CodePermissionDenied   Code = "permission_denied"
	CodeNotFound           Code = "not_found"
	CodeConflict           Code = "conflict"
	CodePreconditionFailed Code = "precondition_failed"
	CodePayloadTooLarge    Code = "payload_too_large"
	CodeUnprocessable      Code = "unprocessable"
	// CodeIdempotencyMismatch (422): an Idempotency-Key reused with a
	// different request (docs/idempotency.md).
	CodeIdempotencyMismatch Code = "idempotency_mismatch"
	CodeRateLimited         Code = "rate_limited"
	CodeInternal            Code = "internal"
	CodeUnavailable         Code = "unavailable"
)

// Error is the one domain error type. Message is written for the user and
// says what to do next; Details carries machine-readable context.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// String returns the code as sent on the wire.
func (c Code) String() string { return string(c) }

// Is makes errors.Is(err, registry.ErrNotFound) match any Error with that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Sentinels for errors.Is; they match every Error of their code.
var (
	ErrInvalidArgument     = &Error{Code: CodeInvalidArgument}
	ErrUnauthenticated     = &Error{Code: CodeUnauthenticated}
	ErrPermissionDenied    = &Error{Code: CodePermissionDenied}
	ErrNotFound            = &Error{Code: CodeNotFound}
	ErrConflict            = &Error{Code: CodeConflict}
	ErrPreconditionFailed  = &Error{Code: CodePreconditionFailed}
	ErrPayloadTooLarge     = &Error{Code: CodePayloadTooLarge}
	ErrUnprocessable       = &Error{Code: CodeUnprocessable}
	ErrIdempotencyMismatch = &Error{Code: CodeIdempotencyMismatch}
	ErrRateLimited         = &Error{Code: CodeRateLimited}
	ErrInternal            = &Error{Code: CodeInternal}
	ErrUnavailable         = &Error{Code: CodeUnavailable}
)

// Errorf builds an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithDetails returns e with the given detail set.
func (e *Error) WithDetails(key string, value any) *Error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details[key] = value
	return e
}

// CodeOf returns the code of the first Error in err's chain, or CodeInternal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
