package api

import (
	"net/http"

	"github.com/kitaru/deployments/pkg/registry"
)

// ErrorBody is the body of every failed request: {"error": {...}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: a code (one status each), a message
// that says what to do next, and machine-readable details.
type ErrorDetail struct {
	Code    registry.Code  `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// statusByCode is the one mapping from error codes to HTTP statuses. The
// ErrorCode enum of api/openapi.yaml names each code's status in a comment,
// and the Python SDK's STATUS_BY_CODE copies it; tests check both.
var statusByCode = map[registry.Code]int{
	registry.CodeInvalidArgument:     http.StatusBadRequest,
	registry.CodeUnauthenticated:     http.StatusUnauthorized,
	registry.CodePermissionDenied:    http.StatusForbidden,
	registry.CodeNotFound:            http.StatusNotFound,
	registry.CodeConflict:            http.StatusConflict,
	registry.CodePreconditionFailed:  http.StatusPreconditionFailed,
	registry.CodePayloadTooLarge:     http.StatusRequestEntityTooLarge,
	registry.CodeUnprocessable:       http.StatusUnprocessableEntity,
	registry.CodeIdempotencyMismatch: http.StatusUnprocessableEntity,
	registry.CodeRateLimited:         http.StatusTooManyRequests,
	registry.CodeInternal:            http.StatusInternalServerError,
	registry.CodeUnavailable:         http.StatusServiceUnavailable,
}

// Codes returns every error code the API answers with, in no set order.
func Codes() []registry.Code {
	codes := make([]registry.Code, 0, len(statusByCode))
	for c := range statusByCode {
		codes = append(codes, c)
	}
	return codes
}

// StatusOf is the HTTP status of an error with code c; an unknown code is
// a server failure (500).
func StatusOf(c registry.Code) int {
	if s, ok := statusByCode[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// CodeOf is the code of an answer that carries no error envelope (a proxy
// or a gateway answered), read from its status alone: unavailable for
// 502–504, the code with that status (unprocessable for 422, which
// idempotency_mismatch shares), and internal for anything else.
func CodeOf(status int) registry.Code {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return registry.CodeUnavailable
	case http.StatusUnprocessableEntity:
		return registry.CodeUnprocessable
	}
	for c, s := range statusByCode {
		if s == status {
			return c
		}
	}
	return registry.CodeInternal
}
