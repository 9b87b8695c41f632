package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitaru/deployments/pkg/registry"
)

// Token lifetimes: 15 minutes unless asked, never more than an hour.
const (
	DefaultTokenTTL = 15 * time.Minute
	MaxTokenTTL     = time.Hour
	tokenIssuer     = "kitaru"
	tokenAudience   = "kitaru-api"
)

// Signer issues and verifies short-lived bearer tokens (HS256 JWTs) bound to
// one project. The secret comes from Secrets Manager in AWS; kitaru dev makes
// one per start.
type Signer struct {
	Secret []byte
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

type claims struct {
	jwt.RegisteredClaims
	Project string        `json:"project"`
	Role    registry.Role `json:"role"`
}

// NewSecret returns a fresh 256-bit signing secret.
func NewSecret() ([]byte, error) {
	b := make([]byte, 32)
	_, err := rand.Read(b)
	return b, err
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Issue signs a token for p valid for ttl (0 means DefaultTokenTTL).
// Errors: invalid_argument (ttl out of range).
func (s *Signer) Issue(p registry.Principal, ttl time.Duration) (string, time.Time, error) {
	switch {
	case ttl == 0:
		ttl = DefaultTokenTTL
	case ttl < time.Minute || ttl > MaxTokenTTL:
		return "", time.Time{}, registry.Errorf(registry.CodeInvalidArgument, "token lifetime %s is out of range: use 60 to 3600 seconds", ttl)
	}
	if len(s.Secret) < 32 {
		return "", time.Time{}, errors.New("token signing secret is shorter than 32 bytes")
	}
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return "", time.Time{}, err
	}
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(ttl)
	c := claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: tokenIssuer, Subject: p.ID, Audience: jwt.ClaimStrings{tokenAudience},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp), ID: hex.EncodeToString(id),
		},
		Project: p.Project, Role: p.Role,
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.Secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
}

// tokenInvalid refuses a token this server did not issue (or one it
// cannot read). A new token would come from the same credential, so the
// advice is a new API key, not a new token.
func tokenInvalid() *registry.Error {
	return registry.Errorf(registry.CodeUnauthenticated, "the token is not valid for this server; %s", askForKey).
		WithReason(registry.ReasonCredentialInvalid)
}

// askForKey is the next step when a credential is refused for good: only the
// project's admin can make an API key.
const askForKey = "ask the project's admin for an API key and log in again with it"

// Verify checks a token's signature, algorithm, issuer, audience and expiry
// and returns its principal. Errors: unauthenticated.
func (s *Signer) Verify(token string) (registry.Principal, error) {
	var c claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer), jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return registry.Principal{}, registry.Errorf(registry.CodeUnauthenticated, "the token has expired; make a new one with your API key (POST /v1/auth/token), or %s", askForKey).
			WithReason(registry.ReasonTokenExpired)
	}
	if err != nil {
		return registry.Principal{}, tokenInvalid()
	}
	p := registry.Principal{Project: c.Project, Role: c.Role, ID: c.Subject, Credential: registry.CredentialToken}
	if registry.ValidateProject(p.Project) != nil || !registry.ValidRole(p.Role) || p.ID == "" {
		return registry.Principal{}, tokenInvalid()
	}
	return p, nil
}
