package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/gateway"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// stage is the API Gateway stage name kitaru dev reports.
const stage = "dev"

// AuthorizerCacheTTL is how long kitaru dev reuses an authorizer answer for
// the same Authorization and X-Kitaru-Project, as API Gateway does on AWS
// (infra's DefaultAuthorizerCacheTTLSeconds): a revoked key keeps working
// that long, here as there.
const AuthorizerCacheTTL = 60 * time.Second

// Where kitaru dev's method ARNs say the API is; only the policy
// evaluation reads them.
const (
	devRegion    = "local"
	devAccountID = "000000000000"
	devAPIID     = "kitaru-dev"
)

// inProcess is kitaru dev's gateway backend: the authorizer the Lambda
// authorizer function runs, behind the gateway's emulation of API Gateway's
// authorizer (identity sources, policy, result cache), then the handlers,
// all called in process.
type inProcess struct {
	s          *Server
	authorizer *gateway.Authorizer
}

var _ gateway.Backend = inProcess{}

// newBackend puts authorizer in front of handler as API Gateway does.
func newBackend(s *Server, authorizer *gatewayauth.Authorizer) inProcess {
	return inProcess{s: s, authorizer: &gateway.Authorizer{
		Call: func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) ([]byte, error) {
			resp, err := authorizer.Decide(ctx, req)
			if errors.Is(err, gatewayauth.ErrUnauthorized) {
				return nil, fmt.Errorf("%w: %w", gateway.ErrUnauthorized, err)
			}
			if err != nil {
				return nil, err
			}
			// The answer crosses as JSON, as from the function.
			return json.Marshal(resp)
		},
		IdentityHeaders: []string{auth.HeaderAuthorization, auth.HeaderProject},
		// A dev key belongs to one project, so X-Kitaru-Project may be left
		// out; and the authorizer says better than the gateway what is missing.
		OptionalIdentity: true,
		TTL:              AuthorizerCacheTTL,
		Region:           devRegion, AccountID: devAccountID, APIID: devAPIID, Stage: stage,
	}}
}

// Match passes every path on: the handler answers unknown routes itself
// (404, or 405 with Allow), so only the resource is filled in here.
func (b inProcess) Match(_, path string) (gateway.Route, bool) {
	template, params, _ := httpapi.MatchPath(path)
	return gateway.Route{Resource: template, PathParameters: params}, true
}

// Authorize runs the authorizer before the handler, as API Gateway runs it
// before the integration.
func (b inProcess) Authorize(ctx context.Context, _ gateway.Route, ev *events.APIGatewayProxyRequest) (map[string]any, error) {
	return b.authorizer.Authorize(ctx, ev)
}

// Integrate runs the handler.
func (b inProcess) Integrate(ctx context.Context, _ gateway.Route, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return b.s.services.Handler.Handle(ctx, ev)
}

// Respond renders errors in the API's envelope. A refusal the authenticator
// explains (a bad key, an expired token, a key store that failed) shows its
// message; the others get the text of the stack's gateway responses.
func (b inProcess) Respond(err error, requestID string) events.APIGatewayProxyResponse {
	var refusal *gateway.Refusal
	if errors.As(err, &refusal) {
		switch {
		case refusal.Type == gateway.RequestTooLarge:
			err = registry.Errorf(registry.CodePayloadTooLarge, "request body is over %d MiB; pass large data by reference (a URL or object key)", MaxBodyBytes>>20)
		case registry.CodeOf(err) != registry.CodeInternal:
			// The authenticator's own error, wrapped by the refusal.
		case refusal.Type == gateway.Unauthorized:
			err = registry.Errorf(registry.CodeUnauthenticated, "%s", httpapi.MissingIdentityMessage)
		case refusal.Type == gateway.AccessDenied:
			err = registry.Errorf(registry.CodePermissionDenied, "%s", httpapi.AccessDeniedMessage)
		}
	}
	if registry.CodeOf(err) == registry.CodeInternal {
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
