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

// MissingIdentityMessage is the 401 message when a request lacks an
// identity source (Authorization or X-Kitaru-Project). API Gateway answers it
// without calling the authorizer (the stack's Unauthorized gateway response
// carries the same text), and a handler verifying bearers itself does too.
const MissingIdentityMessage = "missing or invalid credentials: send the headers `Authorization: Bearer <API key or token>` and `X-Kitaru-Project: <project>`"

// AccessDeniedMessage is the 403 message when the authorizer's policy
// denies a request (a key used for a project it does not belong to): the
// stack's AccessDenied gateway response, and kitaru dev's.
const AccessDeniedMessage = "this credential has no access to the project in X-Kitaru-Project; use a key or token of that project"

// principalOf reads the caller from the authorizer context. Without it, a
// handler configured to verify bearers itself (gateways that do not run
// authorizers, such as LocalStack's free plan) requires both identity
// sources, as API Gateway does, and runs the authorizer's own code on them;
// otherwise the request is refused: auth fails closed. A context missing any
// of its four keys, or holding an empty or unknown value, is refused too.
func (h *Handler) principalOf(ctx context.Context, c *call) (registry.Principal, error) {
	auth := c.req.RequestContext.Authorizer
	if !hasIdentity(auth) {
		if h.cfg.Authenticate == nil {
			return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the request carries no credentials; send the header `Authorization: Bearer <API key or token>`").
				WithReason(registry.ReasonNoCredentials)
		}
		authorization, project := c.header("Authorization"), c.header("X-Kitaru-Project")
		if authorization == "" || project == "" {
			return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "%s", MissingIdentityMessage).WithReason(registry.ReasonNoCredentials)
		}
		return h.cfg.Authenticate(ctx, authorization, project)
	}
	p := registry.Principal{
		Project:    stringValue(auth[authorizerProject]),
		Role:       registry.Role(stringValue(auth[authorizerRole])),
		ID:         stringValue(auth[authorizerPrincipalID]),
		Credential: registry.Credential(stringValue(auth[authorizerCredential])),
	}
	if registry.ValidateProject(p.Project) != nil || p.ID == "" || !registry.ValidRole(p.Role) || !registry.ValidCredential(p.Credential) {
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the authorizer returned an incomplete identity; send the request again with your API key, or a token made from it")
	}
	return p, nil
}

// hasIdentity reports whether an authorizer context carries any of the keys
// the authorizer sets. Gateways that do not run authorizers may still pass
// keys of their own, which count as no context at all.
func hasIdentity(auth map[string]any) bool {
	for _, k := range []string{authorizerProject, authorizerRole, authorizerPrincipalID, authorizerCredential} {
		if _, ok := auth[k]; ok {
			return true
		}
	}
	return false
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
