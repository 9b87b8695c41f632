package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// reply is what an endpoint answers: a status, a value to encode as JSON
// (nil for an empty body) and extra headers. raw, when set, is the body
// already encoded (an answer kept for an Idempotency-Key), sent as it is.
type reply struct {
	status int
	body   any
	header map[string]string
	raw    *string
}

// errorReply turns err into the error envelope. Errors that are not domain
// errors, and domain errors with code internal, are answered with a generic
// message naming the request id; their text stays in the log.
func errorReply(err error, requestID string) reply {
	var e *registry.Error
	if !errors.As(err, &e) || e.Code == registry.CodeInternal {
		e = registry.Errorf(registry.CodeInternal, "internal error; retry, and if it persists report request id %q", requestID)
	}
	r := reply{status: api.StatusOf(e.Code), body: api.ErrorBody{Error: api.ErrorDetail{Code: e.Code, Message: e.Message, Details: e.Details}}}
	if wait, limited := registry.RetryAfter(e); limited {
		// Every 429 says when to come back; clients (pkg/client, the
		// Python SDK) wait that long before their retry.
		r.header = map[string]string{HeaderRetryAfter: strconv.Itoa(int(wait.Seconds()))}
	}
	return r
}

// HeaderRetryAfter is the header of every 429: whole seconds to wait.
const HeaderRetryAfter = "Retry-After"

// ErrorResponse renders err as the API Gateway response the handlers give
// for it. Servers in front of the handlers (kitaru dev) use it for errors
// they detect before a request reaches a handler.
func ErrorResponse(err error, requestID string) (events.APIGatewayProxyResponse, error) {
	return errorReply(err, requestID).response()
}

// response encodes r as an API Gateway proxy response; every response is JSON.
func (r reply) response() (events.APIGatewayProxyResponse, error) {
	resp := events.APIGatewayProxyResponse{
		StatusCode: r.status,
		Headers:    map[string]string{"Content-Type": "application/json"},
	}
	for k, v := range r.header {
		resp.Headers[k] = v
	}
	if r.raw != nil {
		resp.Body = *r.raw
		return resp, nil
	}
	if r.body != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r.body); err != nil {
			return events.APIGatewayProxyResponse{}, fmt.Errorf("encode %d response: %w", r.status, err)
		}
		resp.Body = buf.String()
	}
	return resp, nil
}
