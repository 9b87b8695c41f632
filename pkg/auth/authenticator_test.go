package auth_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
)

// fixture holds an authenticator on a real key store (minidyn) with keys.
type fixture struct {
	authn    *auth.Authenticator
	signer   *auth.Signer
	store    *dynamo.Store
	teamA    string // producer key of project team-a
	multi    string // consumer key of projects team-a and team-b
	revoked  string
	now      time.Time
	otherKey string // well-formed, never stored
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: dynamotest.New(t).Store, now: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	secret, _ := auth.NewSecret()
	f.signer = &auth.Signer{Secret: secret, Now: func() time.Time { return f.now }}
	f.authn = &auth.Authenticator{Keys: f.store, Tokens: f.signer, Now: func() time.Time { return f.now }}
	mk := func(projects []string, role registry.Role) string {
		k, plain, err := auth.NewKey(projects, role, "test", f.now)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		return plain
	}
	f.teamA = mk([]string{"team-a"}, registry.RoleProducer)
	f.multi = mk([]string{"team-a", "team-b"}, registry.RoleConsumer)
	f.revoked = mk([]string{"team-a"}, registry.RoleProducer)
	id := strings.Split(f.revoked, "_")[1]
	if _, err := f.store.RevokeKey(ctx, id, f.now); err != nil {
		t.Fatal(err)
	}
	_, f.otherKey, _ = auth.NewKey([]string{"team-a"}, registry.RoleProducer, "", f.now)
	return f
}

func (f *fixture) token(t *testing.T, p registry.Principal, ttl time.Duration) string {
	t.Helper()
	tok, _, err := f.signer.Issue(p, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	teamAToken := f.token(t, registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: "k1", Credential: registry.CredentialAPIKey}, 0)
	otherSigner := &auth.Signer{Secret: []byte(strings.Repeat("x", 32)), Now: f.signer.Now}
	forged, _, _ := otherSigner.Issue(registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: "k1"}, 0)
	parts := strings.Split(teamAToken, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	altered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "team-a", "team-b", 1))) + "." + parts[2]
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	tamperedKey := f.teamA[:len(f.teamA)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(f.teamA, "A")]

	tests := []struct {
		name          string
		authorization string
		project       string
		wantCode      registry.Code
		wantProject   string
		wantRole      registry.Role
	}{
		{"a key of one project authenticates without the project header", "Bearer " + f.teamA, "", "", "team-a", registry.RoleProducer},
		{"a key authenticates with its project's header", "Bearer " + f.teamA, "team-a", "", "team-a", registry.RoleProducer},
		{"the bearer scheme is case-insensitive", "bearer " + f.teamA, "", "", "team-a", registry.RoleProducer},
		{"a multi-project key picks the project from the header", "Bearer " + f.multi, "team-b", "", "team-b", registry.RoleConsumer},
		{"a multi-project key without the header is refused", "Bearer " + f.multi, "", registry.CodeUnauthenticated, "", ""},
		{"a key used for another project is denied", "Bearer " + f.teamA, "team-b", registry.CodePermissionDenied, "", ""},
		{"a revoked key is refused", "Bearer " + f.revoked, "", registry.CodeUnauthenticated, "", ""},
		{"a key with a wrong secret is refused", "Bearer " + tamperedKey, "", registry.CodeUnauthenticated, "", ""},
		{"an unknown key is refused", "Bearer " + f.otherKey, "", registry.CodeUnauthenticated, "", ""},
		{"a malformed key is refused", "Bearer kat_short", "", registry.CodeUnauthenticated, "", ""},
		{"no credentials are refused", "", "", registry.CodeUnauthenticated, "", ""},
		{"another scheme is refused", "Basic " + f.teamA, "", registry.CodeUnauthenticated, "", ""},
		{"a bare credential without scheme is refused", f.teamA, "", registry.CodeUnauthenticated, "", ""},
		{"an invalid project header is refused", "Bearer " + f.teamA, "Team A!", registry.CodeUnauthenticated, "", ""},
		{"a token authenticates for its project", "Bearer " + teamAToken, "", "", "team-a", registry.RoleProducer},
		{"a token for another project is refused", "Bearer " + teamAToken, "team-b", registry.CodeUnauthenticated, "", ""},
		{"a token signed with another secret is refused", "Bearer " + forged, "", registry.CodeUnauthenticated, "", ""},
		{"a token with an altered payload is refused", "Bearer " + altered, "", registry.CodeUnauthenticated, "", ""},
		{"an unsigned token is refused", "Bearer " + unsigned, "", registry.CodeUnauthenticated, "", ""},
		{"garbage is refused", "Bearer not.a.token", "", registry.CodeUnauthenticated, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.authn.Authenticate(ctx, tt.authorization, tt.project)
			if tt.wantCode != "" {
				if registry.CodeOf(err) != tt.wantCode {
					t.Fatalf("got %+v, %v; want %s", p, err, tt.wantCode)
				}
				if strings.Contains(err.Error(), f.teamA) || strings.Contains(err.Error(), teamAToken) {
					t.Fatalf("the error repeats the credential: %v", err)
				}
				return
			}
			if err != nil || p.Project != tt.wantProject || p.Role != tt.wantRole {
				t.Fatalf("got %+v, %v", p, err)
			}
		})
	}
	t.Run("an expired token is refused and says so", func(t *testing.T) {
		tok := f.token(t, registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: "k1"}, time.Minute)
		f.now = f.now.Add(2 * time.Minute)
		defer func() { f.now = f.now.Add(-2 * time.Minute) }()
		_, err := f.authn.Authenticate(ctx, "Bearer "+tok, "")
		if registry.CodeOf(err) != registry.CodeUnauthenticated || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("token lifetimes are bounded to an hour", func(t *testing.T) {
		if _, _, err := f.signer.Issue(registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: "k1"}, 2*time.Hour); registry.CodeOf(err) != registry.CodeInvalidArgument {
			t.Fatalf("got %v", err)
		}
		_, exp, err := f.signer.Issue(registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: "k1"}, 0)
		if err != nil || exp.Sub(f.now) != auth.DefaultTokenTTL {
			t.Fatalf("default lifetime %s, %v", exp.Sub(f.now), err)
		}
	})
}

// FuzzAuthenticate feeds arbitrary headers to the authenticator: it must
// never panic, and nothing but the real key or a token it signed authorizes.
func FuzzAuthenticate(f *testing.F) {
	fx := newFixture(f)
	token, _, err := fx.signer.Issue(registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: "k1"}, 0)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{"Bearer " + fx.teamA, "Bearer " + token, "", "Bearer ", "Bearer kat_", "Bearer kat_aaaaaaaaaaaaaaaa_" + strings.Repeat("A", 43), "Basic x", "Bearer a.b.c", "Bearer " + token + "x"} {
		f.Add(seed, "")
		f.Add(seed, "team-a")
	}
	f.Fuzz(func(t *testing.T, authorization, project string) {
		p, err := fx.authn.Authenticate(context.Background(), authorization, project)
		if err != nil {
			if registry.CodeOf(err) == registry.CodeInternal {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		cred := strings.TrimSpace(authorization)
		if !strings.Contains(cred, fx.teamA) && !strings.Contains(cred, fx.multi) && !strings.Contains(cred, token) {
			t.Fatalf("%q authorized %+v", authorization, p)
		}
	})
}
