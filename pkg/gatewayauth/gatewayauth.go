// Package gatewayauth is the API Gateway REST REQUEST authorizer: it runs
// auth.Authenticator on the request's headers and answers with a policy and
// the principal as context. kitaru dev runs the same authorizer in process,
// behind the same emulation of API Gateway's policy evaluation and result
// cache that aws-local uses (gateway.Authorizer).
package gatewayauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

// ErrUnauthorized is what API Gateway turns into a 401 (the text must be exactly "Unauthorized").
var ErrUnauthorized = errors.New("Unauthorized")

// Authorizer answers API Gateway's authorizer calls.
type Authorizer struct {
	Auth   *auth.Authenticator
	Logger *slog.Logger
}

// Context returns the authorizer context API Gateway hands the handlers
// (pkg/httpapi reads these keys).
func Context(p registry.Principal) map[string]any {
	return map[string]any{
		"project":      p.Project,
		"role":         string(p.Role),
		"principal_id": p.ID,
		"credential":   string(p.Credential),
	}
}

// Handle authenticates one request. A valid principal gets an Allow policy
// for every method and path of the stage: the decision depends only on the
// identity sources (Authorization and X-Kitaru-Project), so a cached answer
// is right for every route, and the handlers enforce role and project. A
// key used for a project it lacks gets a Deny (403); anything else invalid
// gets ErrUnauthorized (401).
func (a *Authorizer) Handle(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	resp, err := a.Decide(ctx, req)
	if errors.Is(err, ErrUnauthorized) {
		// Lambda reports the error's text and API Gateway needs exactly "Unauthorized".
		return resp, ErrUnauthorized
	}
	return resp, err
}

// Decide is Handle keeping why a request is unauthorized: that error Is
// ErrUnauthorized and wraps the authenticator's error, so that kitaru dev,
// which calls it in process, can tell the caller what to fix.
func (a *Authorizer) Decide(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	p, err := a.Auth.Authenticate(ctx, header(req.Headers, auth.HeaderAuthorization), header(req.Headers, auth.HeaderProject))
	resource := stageWildcard(req.MethodArn)
	if err == nil {
		a.log(ctx, req, "allow", nil)
		return policy(p.ID, "Allow", resource, Context(p)), nil
	}
	switch registry.CodeOf(err) {
	case registry.CodePermissionDenied:
		a.log(ctx, req, "deny", err)
		return policy("denied", "Deny", resource, nil), nil
	case registry.CodeUnauthenticated:
		a.log(ctx, req, "unauthorized", err)
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	default:
		a.log(ctx, req, "error", err)
		return events.APIGatewayCustomAuthorizerResponse{}, err
	}
}

func policy(principal, effect, resource string, context map[string]any) events.APIGatewayCustomAuthorizerResponse {
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: principal,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: []string{resource},
			}},
		},
		Context: context,
	}
}

// stageWildcard turns arn:…:api/stage/METHOD/path into arn:…:api/stage/*/*.
func stageWildcard(methodARN string) string {
	arn, rest, ok := strings.Cut(methodARN, ":execute-api:")
	if !ok {
		return methodARN
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 2 {
		return methodARN
	}
	return arn + ":execute-api:" + parts[0] + "/" + parts[1] + "/*/*"
}

// header reads a header case-insensitively (API Gateway keeps the client's spelling).
func header(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// log writes one line per decision, without the credential.
func (a *Authorizer) log(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest, decision string, err error) {
	if a.Logger == nil {
		return
	}
	attrs := []slog.Attr{slog.String("request_id", req.RequestContext.RequestID), slog.String("decision", decision), slog.String("method", req.HTTPMethod), slog.String("path", req.Path)}
	if err != nil {
		attrs = append(attrs, slog.String("reason", registry.CodeOf(err).String()))
	}
	a.Logger.LogAttrs(ctx, slog.LevelInfo, "authorize", attrs...)
}
