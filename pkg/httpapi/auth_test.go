package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// tokenFixture is a handler serving the token route on the fixture's store,
// with one stored producer key of project team-b.
func tokenFixture(t *testing.T) (*fixture, *httpapi.Handler, auth.Key) {
	t.Helper()
	f := newFixture(t)
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	h := f.handler(httpapi.Config{Tokens: &auth.Signer{Secret: secret}})
	k, _, err := auth.NewKey([]string{"team-b"}, registry.RoleProducer, "token test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return f, h, k
}

func TestTokenRouteRechecksTheAPIKey(t *testing.T) {
	t.Run("a live key mints a token for its project with its stored role", func(t *testing.T) {
		_, h, k := tokenFixture(t)
		// The context claims consumer; the key is a producer: the key wins.
		body := must(t, h, as(request("POST", "/v1/auth/token", `{"ttl_seconds": 600}`), "team-b", "consumer", k.ID), 200)
		var tok struct {
			Token string `json:"token"`
		}
		if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
			t.Fatalf("token answer %s (%v)", body, err)
		}
	})
	t.Run("a revoked key mints nothing even with a still-valid authorizer context naming it", func(t *testing.T) {
		f, h, k := tokenFixture(t)
		ev := as(request("POST", "/v1/auth/token", `{}`), "team-b", "producer", k.ID)
		must(t, h, ev, 200)
		if _, err := f.store.RevokeKey(context.Background(), k.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		// API Gateway would pass the cached context unchanged for up to the cache TTL.
		wantError(t, do(t, h, ev), 401, registry.CodeUnauthenticated)
	})
	t.Run("an unknown key id mints nothing", func(t *testing.T) {
		_, h, _ := tokenFixture(t)
		wantError(t, do(t, h, as(request("POST", "/v1/auth/token", `{}`), "team-b", "producer", "aaaaaaaaaaaaaaaa")), 401, registry.CodeUnauthenticated)
	})
	t.Run("a key used for a project it does not hold mints nothing", func(t *testing.T) {
		_, h, k := tokenFixture(t)
		wantError(t, do(t, h, as(request("POST", "/v1/auth/token", `{}`), "team-a", "producer", k.ID)), 403, registry.CodePermissionDenied)
	})
}
