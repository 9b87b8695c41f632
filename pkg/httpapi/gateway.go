package httpapi

import (
	"net/http"

	"github.com/kitaru/deployments/pkg/registry"
)

// GatewayRefusal is one of API Gateway's own refusals (a request that never
// reaches a handler), which the stack renders as the API's error envelope
// with the code, reason and message a handler would use. They live here,
// beside the handlers' messages, so that one test holds every message of
// the API to the same rules.
type GatewayRefusal struct {
	// ID names the gateway response in the stack; its type is mapped there.
	ID      string
	Status  int
	Code    registry.Code
	Reason  string // details.reason; empty when the gateway cannot tell
	Message string
}

// RetryAfterSeconds is the Retry-After header the refusal carries, 0 for
// none: a throttled request waits as a handler's 429 asks to, since the
// stage's token bucket refills every second, as do the account's.
func (r GatewayRefusal) RetryAfterSeconds() int {
	if r.Status != http.StatusTooManyRequests {
		return 0
	}
	return int(registry.DefaultRetryAfter.Seconds())
}

// GatewayRefusals are the gateway responses the stack defines.
var GatewayRefusals = []GatewayRefusal{
	// The gateway answers a missing identity source itself and a credential
	// the authorizer refuses the same way; either way the caller needs a
	// valid credential.
	{"Unauthorized", http.StatusUnauthorized, registry.CodeUnauthenticated, registry.ReasonCredentialInvalid, MissingIdentityMessage},
	{"AccessDenied", http.StatusForbidden, registry.CodePermissionDenied, "", AccessDeniedMessage},
	// API Gateway answers an unknown path as a missing authentication token.
	{"MissingRoute", http.StatusNotFound, registry.CodeNotFound, registry.ReasonNoRoute,
		"no API route at this path; every route starts with /v1/ (GET /v1/flows lists the flows): check the base URL, which is everything before /v1"},
	{"Throttled", http.StatusTooManyRequests, registry.CodeRateLimited, "", "too many requests; retry after Retry-After, with backoff"},
	{"RequestTooLarge", http.StatusRequestEntityTooLarge, registry.CodePayloadTooLarge, "",
		"the request body is over API Gateway's 10 MB limit; send a large source bundle through POST /v1/artifacts and its presigned upload, and deploy it by digest"},
	{"IntegrationTimeout", http.StatusServiceUnavailable, registry.CodeUnavailable, "", "the request took too long; retry"},
	{"BadRequestParameters", http.StatusBadRequest, registry.CodeInvalidArgument, registry.ReasonNoRoute,
		"a path parameter of this route is missing or empty; every route starts with /v1/, with each {name} in the path filled in"},
	{"Default5xx", http.StatusInternalServerError, registry.CodeInternal, "", "the gateway failed; retry, and report it if it persists"},
}
