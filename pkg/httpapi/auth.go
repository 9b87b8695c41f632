package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

// TokenIssuer signs short-lived tokens; *auth.Signer is one.
type TokenIssuer interface {
	Issue(p registry.Principal, ttl time.Duration) (string, time.Time, error)
}

// issueToken mints a token for the API key the request authenticated with.
// It re-reads the key (auth.Recheck) rather than trusting the authorizer
// context, which API Gateway may have cached from before a revocation: so a
// revoked key mints nothing, and revocation is bounded by the authorizer
// cache TTL plus the lifetime of tokens minted before it (README, Access).
// A store that cannot read keys refuses every token (fail closed).
func (h *Handler) issueToken(ctx context.Context, c *call) (reply, error) {
	var b api.TokenRequest
	if err := decodeRequest(c, &b, true); err != nil {
		return reply{}, err
	}
	if c.principal.Credential != registry.CredentialAPIKey {
		return reply{}, registry.Errorf(registry.CodePermissionDenied, "tokens are issued for API keys only; authenticate this request with your kat_… key")
	}
	keys, ok := h.store.(auth.KeyReader)
	if !ok {
		return reply{}, registry.Errorf(registry.CodeUnavailable, "this server cannot check API keys, so it issues no tokens; authenticate with your API key instead")
	}
	p, err := auth.Recheck(ctx, keys, c.principal)
	if err != nil {
		return reply{}, fmt.Errorf("issue token: %w", err)
	}
	token, exp, err := h.cfg.Tokens.Issue(p, time.Duration(b.TTLSeconds)*time.Second)
	if err != nil {
		return reply{}, fmt.Errorf("issue token: %w", err)
	}
	return reply{status: http.StatusOK, body: api.Token{Token: token, ExpiresAt: exp}}, nil
}

func (h *Handler) status(_ context.Context, c *call) (reply, error) {
	p := c.principal
	return reply{status: http.StatusOK, body: api.Status{
		ServerVersion: h.cfg.ServerVersion, Project: p.Project, Principal: p.ID, Role: p.Role, Credential: p.Credential,
	}}, nil
}
