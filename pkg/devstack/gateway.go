package devstack

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/gateway"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// stage is the API Gateway stage name kitaru dev reports.
const stage = "dev"

// inProcess is kitaru dev's gateway backend: the handlers and the
// authorizer's own authenticator, called in process.
type inProcess struct{ s *Server }

var _ gateway.Backend = inProcess{}

// Match passes every path on: the handler answers unknown routes itself
// (404, or 405 with Allow), so only the resource is filled in here.
func (b inProcess) Match(_, path string) (gateway.Route, bool) {
	template, params, _ := httpapi.MatchPath(path)
	return gateway.Route{Resource: template, PathParameters: params}, true
}

// Authorize runs the authorizer's authenticator before the handler, as API
// Gateway runs the authorizer before the integration.
func (b inProcess) Authorize(ctx context.Context, _ gateway.Route, ev *events.APIGatewayProxyRequest) (map[string]any, error) {
	h := http.Header(ev.MultiValueHeaders)
	p, err := b.s.authn.Authenticate(ctx, h.Get(auth.HeaderAuthorization), h.Get(auth.HeaderProject))
	if err != nil {
		return nil, err
	}
	return gatewayauth.Context(p), nil
}

// Integrate runs the handler.
func (b inProcess) Integrate(ctx context.Context, _ gateway.Route, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return b.s.handler.Handle(ctx, ev)
}

// Respond renders errors in the API's envelope.
func (b inProcess) Respond(err error, requestID string) events.APIGatewayProxyResponse {
	if refusal, ok := err.(*gateway.Refusal); ok && refusal.Type == gateway.RequestTooLarge {
		err = registry.Errorf(registry.CodePayloadTooLarge, "request body is over %d MiB; pass large data by reference (a URL or object key)", MaxBodyBytes>>20)
	} else if registry.CodeOf(err) == registry.CodeInternal {
		b.s.logger.Error("request failed", "request_id", requestID, "error", err)
	}
	resp, encodeErr := httpapi.ErrorResponse(err, requestID)
	if encodeErr != nil {
		return events.APIGatewayProxyResponse{
			StatusCode: http.StatusInternalServerError,
			Body:       `{"error":{"code":"internal","message":"internal error; see the kitaru dev log"}}`,
		}
	}
	return resp
}
