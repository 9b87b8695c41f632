package auth

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Authenticator turns a request's Authorization and X-Kitaru-Project
// headers into a principal. The API Gateway authorizer and kitaru dev run it
// before every handler.
type Authenticator struct {
	Keys   KeyStore
	Tokens *Signer
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Header names the authenticator reads.
const (
	HeaderAuthorization = "Authorization"
	HeaderProject       = "X-Kitaru-Project"
)

// noCredentials refuses a request without an Authorization header. A new
// Error each time: callers may add details to it.
func noCredentials() *registry.Error {
	return registry.Errorf(registry.CodeUnauthenticated, "the request carries no credentials; send the header `Authorization: Bearer <API key or token>`").
		WithReason(registry.ReasonNoCredentials)
}

// Authenticate checks the bearer credential: an API key (kat_…, looked up by
// id, compared in constant time, not revoked, allowed in the project) or a
// token (signature, expiry, project). project is the X-Kitaru-Project
// header; a key that belongs to one project may omit it.
// Errors: unauthenticated, permission_denied (a key used for a project it
// does not belong to), unavailable (the key store failed).
func (a *Authenticator) Authenticate(ctx context.Context, authorization, project string) (registry.Principal, error) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	cred = strings.TrimSpace(cred)
	switch {
	case authorization == "":
		return registry.Principal{}, noCredentials()
	case !ok || !strings.EqualFold(scheme, "Bearer") || cred == "":
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the Authorization header must be `Bearer <API key or token>`")
	case project != "" && registry.ValidateProject(project) != nil:
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the %s header is not a valid project name", HeaderProject)
	case strings.HasPrefix(cred, KeyPrefix):
		return a.authenticateKey(ctx, cred, project)
	}
	p, err := a.Tokens.Verify(cred)
	if err != nil {
		return registry.Principal{}, err
	}
	if project != "" && project != p.Project {
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the token is for project %q, not %q; use an API key of project %q, or a token made from one", p.Project, project, project).
			WithDetails("project", project).WithReason(registry.ReasonCredentialOtherProject)
	}
	return p, nil
}

func (a *Authenticator) authenticateKey(ctx context.Context, plain, project string) (registry.Principal, error) {
	invalid := registry.Errorf(registry.CodeUnauthenticated, "the API key %s is not valid (unknown or revoked); %s", mask(plain), askForKey).
		WithReason(registry.ReasonCredentialInvalid)
	id, ok := parseKey(plain)
	if !ok {
		return registry.Principal{}, invalid
	}
	k, err := a.Keys.GetKey(ctx, id)
	switch {
	case registry.CodeOf(err) == registry.CodeNotFound:
		return registry.Principal{}, invalid
	case err != nil:
		return registry.Principal{}, registry.Errorf(registry.CodeUnavailable, "credentials could not be checked right now; retry")
	case !k.matches(plain) || k.RevokedAt != nil:
		return registry.Principal{}, invalid
	}
	switch {
	case project == "" && len(k.Projects) == 1:
		project = k.Projects[0]
	case project == "":
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "this API key belongs to several projects (%s); choose one with the %s header or KITARU_PROJECT", strings.Join(k.Projects, ", "), HeaderProject)
	case !slices.Contains(k.Projects, project):
		return registry.Principal{}, registry.Errorf(registry.CodePermissionDenied, "this API key has no access to project %q; use a key of that project", project)
	}
	now := time.Now()
	if a.Now != nil {
		now = a.Now()
	}
	if k.LastUsedAt == nil || now.Sub(*k.LastUsedAt) > time.Minute {
		_ = a.Keys.TouchKey(ctx, k.ID, now) // best effort: a lost touch only ages last_used
	}
	return registry.Principal{Project: project, Role: k.Role, ID: k.ID, Credential: registry.CredentialAPIKey}, nil
}

// KeyReader reads one API key; KeyStore is one.
type KeyReader interface {
	// GetKey reads a key by id with a consistent read. Errors: not_found.
	GetKey(ctx context.Context, id string) (Key, error)
}

// Recheck re-reads the API key a principal authenticated with and returns
// the principal when the key still exists, is not revoked and still grants
// the principal's project. The token route calls it: on AWS the
// authorizer's answer is cached (AuthorizerCacheTTLSeconds), so without it a
// key revoked inside the cache window could still mint tokens. Errors:
// invalid_argument (p did not authenticate with an API key), unauthenticated
// (unknown or revoked key), permission_denied (the key lost the project),
// unavailable (the key store failed).
func Recheck(ctx context.Context, keys KeyReader, p registry.Principal) (registry.Principal, error) {
	if p.Credential != registry.CredentialAPIKey {
		return registry.Principal{}, registry.Errorf(registry.CodeInvalidArgument, "only a principal that authenticated with an API key can be checked against its key")
	}
	k, err := keys.GetKey(ctx, p.ID)
	switch {
	case registry.CodeOf(err) == registry.CodeNotFound:
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the API key %s is not valid (unknown or revoked); %s", p.ID, askForKey).
			WithReason(registry.ReasonCredentialInvalid)
	case err != nil:
		return registry.Principal{}, registry.Errorf(registry.CodeUnavailable, "credentials could not be checked right now; retry")
	case k.RevokedAt != nil:
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the API key %s was revoked at %s; %s", p.ID, k.RevokedAt.UTC().Format(time.RFC3339), askForKey).
			WithReason(registry.ReasonCredentialInvalid)
	case !slices.Contains(k.Projects, p.Project):
		return registry.Principal{}, registry.Errorf(registry.CodePermissionDenied, "this API key has no access to project %q; use a key of that project", p.Project)
	}
	p.Role = k.Role
	return p, nil
}
