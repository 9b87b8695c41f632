// Package auth holds the credentials of the Kitaru API: API keys (stored
// only as hashes) and the short-lived signed tokens exchanged for them, and
// the Authenticator that turns a request's headers into a principal. The API
// Gateway authorizer and kitaru dev both use it.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"slices"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// KeyPrefix starts every API key: kat_<key id>_<secret>.
const KeyPrefix = "kat_"

// Key is a stored API key: never the secret, only its SHA-256 (the secret
// has 256 random bits, so a fast hash is safe to store).
type Key struct {
	ID          string        `json:"key_id"`
	Hash        []byte        `json:"-"`
	Projects    []string      `json:"projects"`
	Role        registry.Role `json:"role"`
	Description string        `json:"description,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	LastUsedAt  *time.Time    `json:"last_used_at,omitempty"`
	RevokedAt   *time.Time    `json:"revoked_at,omitempty"`
}

// KeyStore keeps API keys.
type KeyStore interface {
	// CreateKey stores a new key. Errors: conflict (id exists), invalid_argument.
	CreateKey(ctx context.Context, k Key) error
	// GetKey reads a key by id with a consistent read. Errors: not_found.
	GetKey(ctx context.Context, id string) (Key, error)
	// ListKeys returns every key, oldest first.
	ListKeys(ctx context.Context) ([]Key, error)
	// RevokeKey marks a key revoked; revoking twice keeps the first time. Errors: not_found.
	RevokeKey(ctx context.Context, id string, at time.Time) (Key, error)
	// TouchKey records a use of the key (best effort, at most once a minute).
	TouchKey(ctx context.Context, id string, at time.Time) error
}

var (
	idEncoding     = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	secretEncoding = base64.RawURLEncoding
)

// NewKey makes a key for the given projects and role and returns it with
// its plaintext, which is shown once and never stored.
func NewKey(projects []string, role registry.Role, description string, now time.Time) (Key, string, error) {
	if len(projects) == 0 {
		return Key{}, "", registry.Errorf(registry.CodeInvalidArgument, "a key needs at least one project: pass --project")
	}
	for _, p := range projects {
		if err := registry.ValidateProject(p); err != nil {
			return Key{}, "", err
		}
	}
	if !registry.ValidRole(role) {
		return Key{}, "", registry.Errorf(registry.CodeInvalidArgument, "role %q is unknown; use producer or consumer", role)
	}
	id := make([]byte, 10)
	secret := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return Key{}, "", err
	}
	if _, err := rand.Read(secret); err != nil {
		return Key{}, "", err
	}
	k := Key{ID: idEncoding.EncodeToString(id), Projects: slices.Compact(slices.Sorted(slices.Values(projects))), Role: role, Description: description, CreatedAt: now.UTC()}
	plain := KeyPrefix + k.ID + "_" + secretEncoding.EncodeToString(secret)
	k.Hash = hashSecret(plain)
	return k, plain, nil
}

// KeyFromPlaintext rebuilds the stored form of a known plaintext key
// (kitaru dev --api-key). Errors: invalid_argument.
func KeyFromPlaintext(plain string, projects []string, role registry.Role, now time.Time) (Key, error) {
	id, ok := parseKey(plain)
	if !ok {
		return Key{}, registry.Errorf(registry.CodeInvalidArgument, "%q is not a Kitaru API key (kat_<id>_<secret>)", mask(plain))
	}
	return Key{ID: id, Hash: hashSecret(plain), Projects: projects, Role: role, CreatedAt: now.UTC()}, nil
}

// parseKey splits kat_<id>_<secret>, checking the shapes NewKey makes.
func parseKey(plain string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(plain, KeyPrefix)
	if !ok {
		return "", false
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 || len(secret) != 43 {
		return "", false
	}
	if _, err := idEncoding.DecodeString(id); err != nil {
		return "", false
	}
	if b, err := secretEncoding.DecodeString(secret); err != nil || len(b) != 32 {
		return "", false
	}
	return id, true
}

func hashSecret(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// matches compares a presented key with the stored hash in constant time.
func (k Key) matches(plain string) bool {
	return subtle.ConstantTimeCompare(k.Hash, hashSecret(plain)) == 1
}

// mask keeps the first characters of a credential for messages and logs.
func mask(s string) string {
	if len(s) <= 8 {
		return strings.Repeat("*", len(s))
	}
	return s[:8] + "…"
}

// Mask shortens a credential for display: its prefix and an ellipsis.
func Mask(s string) string { return mask(s) }

// TouchInterval is how often a KeyStore records a use of one key (TouchKey).
const TouchInterval = time.Minute

// ValidateNew checks a key about to be stored. Errors: invalid_argument (no
// id, no hash, no or invalid projects, unknown role).
func (k Key) ValidateNew() error {
	switch {
	case k.ID == "" || strings.Contains(k.ID, "#"):
		return registry.Errorf(registry.CodeInvalidArgument, "API key id %q is invalid; make keys with auth.NewKey", k.ID)
	case len(k.Hash) == 0:
		return registry.Errorf(registry.CodeInvalidArgument, "API key %s has no hash; make keys with auth.NewKey", k.ID)
	case len(k.Projects) == 0:
		return registry.Errorf(registry.CodeInvalidArgument, "a key needs at least one project: pass --project")
	case !registry.ValidRole(k.Role):
		return registry.Errorf(registry.CodeInvalidArgument, "role %q is unknown; use producer or consumer", k.Role)
	}
	for _, p := range k.Projects {
		if err := registry.ValidateProject(p); err != nil {
			return err
		}
	}
	return nil
}

// KeyNotFound is the not_found of an unknown key id.
func KeyNotFound(id string) *registry.Error {
	return registry.Errorf(registry.CodeNotFound, "API key %q not found; list keys with `kitaru admin keys list`", id).WithDetails("key_id", id)
}

// KeyExists refuses storing a key id twice.
func KeyExists(id string) *registry.Error {
	return registry.Errorf(registry.CodeConflict, "API key %q already exists; create another key", id).WithDetails("key_id", id)
}
