package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
)

// cliOnly are the fragments a server message must not hold: the HTTP API,
// MCP and the SDKs show these messages too, so they name API fields and
// concepts, never a CLI command, a flag or a file of this repository. The
// CLI adds its own next step, keyed on details.reason (pkg/cli).
var cliOnly = []string{"--", "kitaru ", "`kitaru", "api/", ".yaml"}

// checkSurfaceNeutral fails for a message holding a CLI-only fragment.
func checkSurfaceNeutral(t *testing.T, message string) {
	t.Helper()
	for _, bad := range cliOnly {
		if strings.Contains(message, bad) {
			t.Errorf("message %q holds %q, which only a CLI user can follow", message, bad)
		}
	}
}

// TestEveryErrorMessageFitsEverySurface sends every request this package's
// tests know to be refused (routing rules, rollback, deletes, lookups,
// credentials, routes) through the real handler and checks each message,
// and the reason a client keys its own advice on.
func TestEveryErrorMessageFitsEverySurface(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	signer := &auth.Signer{Secret: secret}
	all := f.handler(httpapi.Config{
		Executions: f.store, Tokens: signer,
		Invoker: &invoke.Service{Registry: f.store, Execs: f.store, Executor: fakeStepFunctions{}, Objects: artifactStore, Stacks: devStacks},
	})
	authn := &auth.Authenticator{Keys: f.store, Tokens: signer}
	verifying := f.handler(httpapi.Config{Authenticate: authn.Authenticate, Tokens: signer})

	// research_agent: version 1 holds default, 2 canary (exclusive), 1 and 2
	// the shared benchmark; stable went 2 → 3, then 2 was freed and deleted;
	// fresh was only ever on 1.
	const flow = "/v1/flows/research_agent"
	must(t, all, request("POST", flow+"/deployments", deployBody("")), 201)
	must(t, all, request("POST", flow+"/deployments", deployBody(`"tag": "canary", "exclusive": true`)), 201)
	must(t, all, request("POST", flow+"/deployments", deployBody(`"input_schema": {"type": "object", "properties": {"topic": {"type": "string"}}}`)), 201)
	must(t, all, request("PUT", flow+"/tags/stable", `{"version": 2, "exclusive": true}`), 200)
	must(t, all, request("PUT", flow+"/tags/stable", `{"version": 3, "exclusive": true}`), 200)
	must(t, all, request("PUT", flow+"/tags/benchmark", `{"version": 1}`), 200)
	must(t, all, request("PUT", flow+"/tags/benchmark", `{"version": 2}`), 200)
	must(t, all, request("PUT", flow+"/tags/fresh", `{"version": 1, "exclusive": true}`), 200)
	must(t, all, request("POST", "/v1/flows/gone/deployments", deployBody("")), 201)
	must(t, all, request("PUT", "/v1/flows/gone/tags/stable", `{"version": 1, "exclusive": true}`), 200)
	must(t, all, request("POST", "/v1/flows/gone/deployments", deployBody(`"tag": "stable", "exclusive": true`)), 201)
	must(t, all, request("PUT", "/v1/flows/gone/tags/default", `{"version": 2, "exclusive": true}`), 200)
	must(t, all, request("DELETE", "/v1/flows/gone/deployments/1", ""), 204)
	// sourceless: a version recorded without its source bundle (before
	// deploys required one), which cannot run.
	if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: "default", Flow: "sourceless", Entrypoint: "flows/research.py:research_agent",
		Inputs: []byte(`{}`), Stack: "dev", By: "dev"}); err != nil {
		t.Fatal(err)
	}

	// Credentials: a key of team-b, one revoked, tokens expired, forged and of another project.
	key, plain, err := auth.NewKey([]string{"team-b"}, registry.RoleProducer, "messages test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	revoked, revokedPlain, err := auth.NewKey([]string{"team-b"}, registry.RoleProducer, "revoked", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CreateKey(ctx, revoked); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.RevokeKey(ctx, revoked.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	past := &auth.Signer{Secret: secret, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	expired, _, err := past.Issue(registry.Principal{Project: "team-b", Role: registry.RoleProducer, ID: key.ID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	teamA, _, err := signer.Issue(registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: key.ID}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(credential, project string) func(events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
		return func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
			h := map[string]string{}
			if credential != "" {
				h["Authorization"] = "Bearer " + credential
			}
			if project != "" {
				h["X-Kitaru-Project"] = project
			}
			return withHeaders(anonymous(ev), h)
		}
	}
	partial := func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
		ev.RequestContext.Authorizer = map[string]any{"project": "default", "role": "producer"}
		return ev
	}

	type rewrite = func(events.APIGatewayProxyRequest) events.APIGatewayProxyRequest
	tests := []struct {
		name         string
		h            *httpapi.Handler
		method, path string
		body         string
		edit         rewrite
		status       int
		reason       string // the details.reason a client keys its advice on; "" checks none
	}{
		{"a flow without deployments", all, "GET", "/v1/flows/nosuch", "", nil, 404, registry.ReasonNoDeployments},
		{"resolving a flow without deployments", all, "GET", "/v1/flows/nosuch/resolve", "", nil, 404, registry.ReasonNoDeployments},
		{"a version the flow does not have", all, "GET", flow + "/deployments/99", "", nil, 404, registry.ReasonVersionNotFound},
		{"a tag no version holds", all, "GET", flow + "/tags/nosuch", "", nil, 404, registry.ReasonTagNotFound},
		{"resolving a tag no version holds", all, "GET", flow + "/resolve?tag=nosuch", "", nil, 404, registry.ReasonTagNotFound},
		{"resolving a shared tag on two versions", all, "GET", flow + "/resolve?tag=benchmark", "", nil, 409, registry.ReasonAmbiguousTag},
		{"invoking a shared tag on two versions", all, "POST", flow + "/invocations", `{"tag": "benchmark"}`, nil, 409, registry.ReasonAmbiguousTag},
		{"adding an exclusive tag as shared", all, "PUT", flow + "/tags/canary", `{"version": 1}`, nil, 409, ""},
		{"moving a tag with a stale If-Match", all, "PUT", flow + "/tags/stable", `{"version": 1, "exclusive": true}`,
			func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
				return withHeader(ev, "If-Match", "99")
			}, 412, ""},
		{"removing default", all, "DELETE", flow + "/tags/default?version=1", "", nil, 409, registry.ReasonDefaultNotRemovable},
		{"removing a tag from a version that does not hold it", all, "DELETE", flow + "/tags/canary?version=1", "", nil, 404, registry.ReasonTagNotHeld},
		{"deleting a version that holds exclusive tags", all, "DELETE", flow + "/deployments/2", "", nil, 409, registry.ReasonHoldsExclusiveTags},
		{"rolling back a tag that never moved", all, "POST", flow + "/tags/ghost/rollback", "", nil, 404, registry.ReasonTagNotFound},
		{"rolling back a shared tag", all, "POST", flow + "/tags/benchmark/rollback", "", nil, 409, ""},
		{"rolling back a tag with no earlier version", all, "POST", flow + "/tags/fresh/rollback", "", nil, 409, registry.ReasonNoEarlierVersion},
		{"rolling back to a deleted version", all, "POST", "/v1/flows/gone/tags/stable/rollback", "", nil, 409, registry.ReasonRollbackTargetDeleted},
		{"invoking with inputs the schema refuses", all, "POST", flow + "/versions/3/invocations", `{"inputs": {"topic": 7}}`, nil, 422, registry.ReasonInputsMismatch},
		{"an execution id of the wrong shape", all, "GET", "/v1/executions/nosuch", "", nil, 404, registry.ReasonExecutionNotFound},
		{"an unknown execution id", all, "GET", "/v1/executions/ex_00000000000000000000000000", "", nil, 404, registry.ReasonExecutionNotFound},
		{"a deploy whose entrypoint is not in its bundle", all, "POST", "/v1/flows/research_agent/deployments",
			`{"entrypoint": "flows/missing.py:research_agent", "source": {"archive": "` + researchArchive + `"}}`, nil, 422, ""},
		{"invoking a version without a saved source bundle", all, "POST", "/v1/flows/sourceless/invocations", `{}`, nil, 422, ""},
		{"a deploy without source", all, "POST", "/v1/flows/research_agent/deployments", `{"entrypoint": "flows/research.py:research_agent", "source": null}`, nil, 400, ""},
		{"a route that does not exist", all, "GET", "/v1/nowhere", "", nil, 404, registry.ReasonNoRoute},
		{"a path outside the API's version", all, "GET", "/flows", "", nil, 404, registry.ReasonNoRoute},
		{"a method the route does not take", all, "PATCH", "/v1/flows", "", nil, 405, ""},
		{"a consumer's write", all, "PUT", flow + "/tags/stable", `{"version": 1, "exclusive": true}`,
			func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
				return as(ev, "default", "consumer", "c1")
			}, 403, ""},
		{"no authorizer context and no verifier", all, "GET", "/v1/flows", "", anonymous, 401, registry.ReasonNoCredentials},
		{"an incomplete authorizer context", all, "GET", "/v1/flows", "", partial, 401, ""},
		{"no credentials at a verifying handler", verifying, "GET", "/v1/flows", "", bearer("", "team-b"), 401, registry.ReasonNoCredentials},
		{"an Authorization header that is not a bearer", verifying, "GET", "/v1/flows", "", func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
			return withHeaders(anonymous(ev), map[string]string{"Authorization": "Basic abc", "X-Kitaru-Project": "team-b"})
		}, 401, ""},
		{"an expired token", verifying, "GET", "/v1/flows", "", bearer(expired, "team-b"), 401, registry.ReasonTokenExpired},
		{"a garbage token", verifying, "GET", "/v1/flows", "", bearer("not.a.token", "team-b"), 401, registry.ReasonCredentialInvalid},
		{"a token of another project", verifying, "GET", "/v1/flows", "", bearer(teamA, "team-b"), 401, registry.ReasonCredentialOtherProject},
		{"an unknown API key", verifying, "GET", "/v1/flows", "", bearer(auth.KeyPrefix+"nosuchkeynosuchkeynosuchkey", "team-b"), 401, registry.ReasonCredentialInvalid},
		{"a revoked API key", verifying, "GET", "/v1/flows", "", bearer(revokedPlain, "team-b"), 401, registry.ReasonCredentialInvalid},
		{"an API key used for another project", verifying, "GET", "/v1/flows", "", bearer(plain, "team-a"), 403, ""},
		{"a token minted from a revoked key", all, "POST", "/v1/auth/token", `{}`,
			func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
				return as(ev, "team-b", "producer", revoked.ID)
			}, 401, registry.ReasonCredentialInvalid},
		{"a token minted from an unknown key", all, "POST", "/v1/auth/token", `{}`,
			func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
				return as(ev, "team-b", "producer", "aaaaaaaaaaaaaaaa")
			}, 401, registry.ReasonCredentialInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused in words every surface can follow", func(t *testing.T) {
			ev := request(tt.method, tt.path, tt.body)
			if tt.edit != nil {
				ev = tt.edit(ev)
			}
			resp := do(t, tt.h, ev)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.status, resp.Body)
			}
			e := decode[api.ErrorBody](t, resp.Body).Error
			checkSurfaceNeutral(t, e.Message)
			if got, _ := e.Details[registry.DetailReason].(string); tt.reason != "" && got != tt.reason {
				t.Errorf("details.reason %q, want %q; body %s", got, tt.reason, resp.Body)
			}
		})
	}

	// Refusals no request reaches on this store are checked where the
	// domain builds them: a flow gets default with its first deploy, a
	// request for default is always exclusive, a race decides the
	// moved-while-rolling-back conflict, and the handler answers a missing
	// header before the authenticator sees it.
	_, noDefault := registry.Routes{}.Resolve("research_agent", registry.Selector{Tag: registry.DefaultTag}, true)
	_, noCredentials := authn.Authenticate(ctx, "", "team-b")
	_, sharedDefault := registry.Route{Flow: "research_agent", Tag: registry.DefaultTag}.AddShared(1, 1)
	for _, tt := range []struct {
		name   string
		err    error
		reason string
	}{
		{"a flow whose deployments hold no default", noDefault, registry.ReasonNoDefault},
		{"default added as a shared tag (a request's default is always exclusive)", sharedDefault, registry.ReasonDefaultExclusive},
		{"a rollback that raced another move", registry.Route{Flow: "research_agent", Tag: "stable"}.MovedDuringRollback(), registry.ReasonMovedDuringRollback},
		{"an authenticator handed no Authorization header", noCredentials, registry.ReasonNoCredentials},
		{"a gateway refusing a request without identity", registry.Errorf(registry.CodeUnauthenticated, "%s", httpapi.MissingIdentityMessage), ""},
		{"a gateway refusing a credential of another project", registry.Errorf(registry.CodePermissionDenied, "%s", httpapi.AccessDeniedMessage), ""},
	} {
		t.Run(tt.name+" is refused in words every surface can follow", func(t *testing.T) {
			resp, err := httpapi.ErrorResponse(tt.err, "req-1")
			if err != nil {
				t.Fatal(err)
			}
			e := decode[api.ErrorBody](t, resp.Body).Error
			checkSurfaceNeutral(t, e.Message)
			if got, _ := e.Details[registry.DetailReason].(string); tt.reason != "" && got != tt.reason {
				t.Errorf("details.reason %q, want %q; body %s", got, tt.reason, resp.Body)
			}
		})
	}
}

// TestGatewayRefusalsFitEverySurface holds the refusals the stack renders
// for API Gateway (requests no handler sees) to the handlers' rules.
func TestGatewayRefusalsFitEverySurface(t *testing.T) {
	ids := map[string]bool{}
	for _, r := range httpapi.GatewayRefusals {
		t.Run(r.ID+" is refused in words every surface can follow", func(t *testing.T) {
			checkSurfaceNeutral(t, r.Message)
			if ids[r.ID] {
				t.Errorf("refusal %s is listed twice", r.ID)
			}
			ids[r.ID] = true
			if r.Reason != "" && !slices.Contains(registry.Reasons, r.Reason) {
				t.Errorf("reason %q is not one of registry.Reasons", r.Reason)
			}
			if got := api.CodeOf(r.Status); got != r.Code {
				t.Errorf("status %d carries code %q, but the API maps it to %q", r.Status, r.Code, got)
			}
		})
	}
}
