package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kitaru/deployments/pkg/registry"
)

// Authorizer context keys set by the API Gateway Lambda authorizer.
const (
	authorizerProject     = "project"
	authorizerRole        = "role"
	authorizerPrincipalID = "principal_id"
	authorizerCredential  = "credential"
)

// principalOf reads the caller from the authorizer context. Without it, a
// handler configured to verify bearers itself (gateways that do not run
// authorizers, such as LocalStack's free plan) runs the authorizer's own
// code on the headers; otherwise the request is refused: auth fails closed.
func (h *Handler) principalOf(ctx context.Context, c *call) (registry.Principal, error) {
	auth := c.req.RequestContext.Authorizer
	if _, ok := auth[authorizerProject]; !ok {
		if h.cfg.Authenticate != nil {
			return h.cfg.Authenticate(ctx, c.header("Authorization"), c.header("X-Kitaru-Project"))
		}
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the request carries no credentials; log in with `kitaru login` or send a bearer token")
	}
	p := registry.Principal{
		Project:    stringValue(auth[authorizerProject]),
		Role:       registry.Role(stringValue(auth[authorizerRole])),
		ID:         stringValue(auth[authorizerPrincipalID]),
		Credential: registry.Credential(stringValue(auth[authorizerCredential])),
	}
	if registry.ValidateProject(p.Project) != nil || p.ID == "" || !registry.ValidRole(p.Role) {
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the authorizer returned an incomplete identity; log in again with `kitaru login`")
	}
	return p, nil
}

// authorize applies the role rule: a consumer may read, invoke and cancel
// executions; everything else needs a producer.
func authorize(p registry.Principal, e endpoint) error {
	if p.Role == registry.RoleConsumer && e.Method != http.MethodGet && !e.consumer {
		return registry.Errorf(registry.CodePermissionDenied, "role consumer may only read and invoke; ask a producer of project %q to make this change", p.Project)
	}
	return nil
}

// stringValue renders an authorizer context value; API Gateway passes them as
// strings, but a test or another gateway may pass numbers or booleans.
func stringValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}
