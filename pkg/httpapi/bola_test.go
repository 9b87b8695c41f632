package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/prune"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
	"github.com/kitaru/deployments/pkg/workflow"
)

// fakeStepFunctions stands in for the executor nothing here can run.
type fakeStepFunctions struct{}

func (fakeStepFunctions) Start(context.Context, workflow.RunRequest) error { return nil }
func (fakeStepFunctions) Stop(context.Context, string, string) error       { return nil }

// bolaFixture is a handler serving every route, with project team-b owning
// a flow (two versions, tags, an execution) that project team-a must not reach.
type bolaFixture struct {
	*fixture
	all    *httpapi.Handler
	execID string
}

func newBolaFixture(t *testing.T) *bolaFixture {
	f := newFixture(t)
	secret, _ := auth.NewSecret()
	stacks := devStacks
	b := &bolaFixture{fixture: f}
	teamSecrets := secrets.NewMemory(nil)
	if _, err := teamSecrets.Set(context.Background(), "team-b", "TEAM_B_TOKEN", "team-b-value"); err != nil {
		t.Fatal(err)
	}
	b.all = f.handler(httpapi.Config{
		Executions: f.store, Tokens: &auth.Signer{Secret: secret}, Secrets: teamSecrets, Pruner: &prune.Pruner{Store: f.store, Bundles: artifactStore},
		Invoker: &invoke.Service{Registry: f.store, Execs: f.store, Executor: fakeStepFunctions{}, Objects: artifactStore, Stacks: stacks},
	})
	asB := func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
		return as(ev, "team-b", "producer", "bob")
	}
	must(t, b.all, asB(request("POST", "/v1/flows/research_agent/deployments", deployBody(""))), 201)
	must(t, b.all, asB(request("POST", "/v1/flows/research_agent/deployments", deployBody(`"tag": "canary", "exclusive": true`))), 201)
	must(t, b.all, asB(request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 2, "exclusive": true}`)), 200)
	must(t, b.all, asB(request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`)), 200)
	body := must(t, b.all, asB(request("POST", "/v1/flows/research_agent/invocations", `{"tag": "stable"}`)), 202)
	var e registry.Execution
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatal(err)
	}
	b.execID = e.ExecID
	return b
}

// stateOfB is everything project team-b can see; a request from elsewhere must not change it.
func (b *bolaFixture) stateOfB(t *testing.T) string {
	t.Helper()
	var s strings.Builder
	for _, target := range []string{
		"/v1/flows", "/v1/flows/research_agent/deployments", "/v1/flows/research_agent/tags/stable/history",
		"/v1/executions/" + b.execID, "/v1/flows/research_agent/executions", "/v1/secrets",
	} {
		s.WriteString(must(t, b.all, as(request("GET", target, ""), "team-b", "producer", "bob"), 200))
	}
	return s.String()
}

// concrete fills a route template with team-b's objects and a body that would succeed for team-b.
func (b *bolaFixture) concrete(r httpapi.Route) (path, body string) {
	path = strings.NewReplacer("{flow}", "research_agent", "{version}", "1", "{tag}", "stable", "{exec_id}", b.execID, "{name}", "TEAM_B_TOKEN").Replace(r.Path)
	switch {
	case r.Method == "DELETE" && strings.Contains(r.Path, "/tags/"):
		path += "?version=1"
	case strings.HasSuffix(r.Path, "/diff"):
		path += "?from=1&to=stable"
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/deployments"):
		// A deploy names no existing object: it creates the caller's own flow (named apart, to keep the other checks apart).
		path, body = "/v1/flows/own_flow/deployments", deployBody("")
	case r.Method == "PUT" && strings.HasPrefix(r.Path, "/v1/secrets/"):
		// Named apart, so the DELETE check still finds only team-b's secret.
		path, body = "/v1/secrets/TEAM_A_TOKEN", `{"value": "team-a-value"}`
	case r.Method == "PUT":
		body = `{"version": 2, "exclusive": true}`
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/prune"):
		body = `{"keep": 1}`
	case r.Method == "POST" && strings.HasSuffix(r.Path, "/artifacts"):
		body = `{"sha256": "` + strings.Repeat("a", 64) + `", "size": 10}`
	}
	return path, body
}

// unscoped routes name no object of a project: another project gets its own
// view, which holds nothing of team-b (listing the executions of a flow the
// caller does not have is an empty list, as for any name).
var unscoped = map[string]bool{
	"GET /v1/flows": true, "GET /v1/stacks": true, "POST /v1/artifacts": true,
	"POST /v1/flows/{flow}/deployments": true, "POST /v1/auth/token": true, "GET /v1/status": true,
	"GET /v1/flows/{flow}/executions": true,
	// A secret set by another project is that project's own, as a deploy is.
	"GET /v1/secrets": true, "PUT /v1/secrets/{name}": true,
}

func TestAnotherProjectsObjectsAreNotFoundOnEveryRoute(t *testing.T) {
	b := newBolaFixture(t)
	before := b.stateOfB(t)
	for _, r := range httpapi.Routes() {
		key := r.Method + " " + r.Path
		t.Run(key, func(t *testing.T) {
			path, body := b.concrete(r)
			resp := do(t, b.all, as(request(r.Method, path, body), "team-a", "producer", "alice"))
			if unscoped[key] {
				if resp.StatusCode >= 500 || strings.Contains(resp.Body, b.execID) || strings.Contains(resp.Body, `"flow":"research_agent"`) || strings.Contains(resp.Body, "team-b") {
					t.Fatalf("status %d, body %s", resp.StatusCode, resp.Body)
				}
			} else {
				wantError(t, resp, 404, registry.CodeNotFound)
			}
			if after := b.stateOfB(t); after != before {
				t.Fatalf("team-b's state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestAConsumerIsRefusedOnProducerRoutes(t *testing.T) {
	b := newBolaFixture(t)
	before := b.stateOfB(t)
	consumerMay := map[string]bool{
		"POST /v1/flows/{flow}/invocations": true, "POST /v1/flows/{flow}/versions/{version}/invocations": true,
		"POST /v1/executions/{exec_id}/cancel": true, "POST /v1/auth/token": true,
	}
	for _, r := range httpapi.Routes() {
		key := r.Method + " " + r.Path
		if r.Method == "GET" || consumerMay[key] {
			continue
		}
		t.Run(key, func(t *testing.T) {
			path, body := b.concrete(r)
			wantError(t, do(t, b.all, as(request(r.Method, path, body), "team-b", "consumer", "carol")), 403, registry.CodePermissionDenied)
			if after := b.stateOfB(t); after != before {
				t.Fatalf("team-b's state changed")
			}
		})
	}
	t.Run("a consumer may invoke and read", func(t *testing.T) {
		must(t, b.all, as(request("POST", "/v1/flows/research_agent/invocations", `{}`), "team-b", "consumer", "carol"), 202)
		must(t, b.all, as(request("GET", "/v1/flows/research_agent", ""), "team-b", "consumer", "carol"), 200)
	})
}

func TestTokensAreIssuedForAPIKeysOnly(t *testing.T) {
	b := newBolaFixture(t)
	viaToken := as(request("POST", "/v1/auth/token", `{}`), "team-b", "producer", "bob")
	viaToken.RequestContext.Authorizer["credential"] = "token"
	wantError(t, do(t, b.all, viaToken), 403, registry.CodePermissionDenied)
	// The token route re-reads the key, so bob's must be stored.
	bob, _, err := auth.NewKey([]string{"team-b"}, registry.RoleProducer, "bob", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.store.CreateKey(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	body := must(t, b.all, as(request("POST", "/v1/auth/token", `{"ttl_seconds": 600}`), "team-b", "producer", bob.ID), 200)
	var tok struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" || time.Until(tok.ExpiresAt) > 10*time.Minute+time.Second {
		t.Fatalf("token answer %s (%v)", body, err)
	}
	wantError(t, do(t, b.all, as(request("POST", "/v1/auth/token", `{"ttl_seconds": 7200}`), "team-b", "producer", bob.ID)), 400, registry.CodeInvalidArgument)
}
