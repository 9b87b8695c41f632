package httpapi_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestUnroutedRequestsGetTheEnvelope(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		req    events.APIGatewayProxyRequest
		status int
		allow  string
	}{
		{"an unknown path is not found", request("GET", "/v1/nothing", ""), 404, ""},
		{"a path below a known one is not found", request("GET", "/v1/flows/a/deployments/1/extra", ""), 404, ""},
		{"a known path with the wrong method lists the allowed ones", request("PATCH", "/v1/flows/a/deployments", ""), 405, "GET, POST"},
		{"a read-only path refuses a write", request("POST", "/v1/stacks", "{}"), 405, "GET"},
		{"a tag path allows get, put and delete", request("POST", "/v1/flows/a/tags/stable", "{}"), 405, "DELETE, GET, PUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, f.dev, tt.req)
			code := registry.CodeNotFound
			if tt.status == 405 {
				code = registry.CodeInvalidArgument
			}
			wantError(t, resp, tt.status, code)
			if got := resp.Headers["Allow"]; got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestTheProjectComesFromThePrincipal(t *testing.T) {
	f := newFixture(t)
	h := f.handler(httpapi.Config{})
	must(t, h, as(request("POST", "/v1/flows/research_agent/deployments", deployBody("")), "team-a", "producer", "alice"), 201)

	t.Run("the deployment belongs to the principal's project and names its creator", func(t *testing.T) {
		d := decode[registry.Deployment](t, must(t, h, as(request("GET", "/v1/flows/research_agent/deployments/1", ""), "team-a", "consumer", "bob"), 200))
		if d.Project != "team-a" || d.CreatedBy != "alice" {
			t.Errorf("project %q created by %q, want team-a by alice", d.Project, d.CreatedBy)
		}
	})
	t.Run("another project does not see the flow", func(t *testing.T) {
		wantError(t, do(t, h, as(request("GET", "/v1/flows/research_agent", ""), "team-b", "producer", "carol")), 404, registry.CodeNotFound)
		p := decode[registry.Page[registry.FlowSummary]](t, must(t, h, as(request("GET", "/v1/flows", ""), "team-b", "producer", "carol"), 200))
		if len(p.Items) != 0 {
			t.Errorf("team-b lists %+v, want nothing", p.Items)
		}
	})
	t.Run("the authorizer wins over the default principal", func(t *testing.T) {
		wantError(t, do(t, f.dev, as(request("GET", "/v1/flows/research_agent", ""), "team-b", "producer", "carol")), 404, registry.CodeNotFound)
	})
	t.Run("a consumer may read", func(t *testing.T) {
		must(t, h, as(request("GET", "/v1/flows/research_agent/resolve", ""), "team-a", "consumer", "bob"), 200)
	})
}

func TestEachGroupServesOnlyItsRoutes(t *testing.T) {
	f := newFixture(t)
	must(t, f.dev, request("POST", "/v1/flows/f/deployments", deployBody("")), 201)
	bodies := map[string]string{"POST": deployBody(""), "PUT": `{"version": 1}`}
	for _, group := range []httpapi.Group{httpapi.GroupDeploy, httpapi.GroupTag, httpapi.GroupResolve} {
		h := f.handler(httpapi.Config{Groups: []httpapi.Group{group}})
		for _, r := range httpapi.Routes() {
			path := strings.NewReplacer("{flow}", "f", "{tag}", "default", "{version}", "1").Replace(r.Path)
			if r.Method == "DELETE" && strings.Contains(r.Path, "{tag}") {
				path += "?version=1"
			}
			body := bodies[r.Method]
			if strings.HasSuffix(r.Path, "/rollback") {
				body = ""
			}
			served := r.Group == group
			name := string(group) + " serves " + r.Method + " " + r.Path
			if !served {
				name = string(group) + " does not serve " + r.Method + " " + r.Path
			}
			t.Run(name, func(t *testing.T) {
				resp := do(t, h, request(r.Method, path, body))
				unrouted := resp.StatusCode == 405 || strings.Contains(resp.Body, "no API route")
				if unrouted == served {
					t.Errorf("status %d, body %s", resp.StatusCode, resp.Body)
				}
			})
		}
	}
}

func TestIfMatchAcceptsBareAndQuotedRevisions(t *testing.T) {
	f := newFixture(t)
	must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody(`"tag": "canary"`)), 201)
	tag := decode[registry.Tag](t, must(t, f.dev, request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`), 200))
	tests := []struct {
		name    string
		format  string
		version int
	}{
		{"a bare revision moves the tag", "%d", 2},
		{"a quoted revision moves the tag", `"%d"`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := withHeader(request("PUT", "/v1/flows/research_agent/tags/stable", fmt.Sprintf(`{"version": %d, "exclusive": true}`, tt.version)),
				"If-Match", fmt.Sprintf(tt.format, tag.Revision))
			tag = decode[registry.Tag](t, must(t, f.dev, ev, 200))
			if !slices.Equal(tag.Versions, []int{tt.version}) {
				t.Errorf("stable on %v, want [%d]", tag.Versions, tt.version)
			}
		})
	}
}

func TestInternalErrorsDoNotLeakTheirText(t *testing.T) {
	db, err := defaultconfig.NewClient(context.Background(), dynamoURL)
	if err != nil {
		t.Fatal(err)
	}
	missing := httpapi.New(dynamo.New(db, "no-such-table-xyzzy"), httpapi.Config{Stacks: devStacks})
	resp := do(t, missing, request("GET", "/v1/flows/research_agent", ""))
	msg := wantError(t, resp, 500, registry.CodeInternal)
	if strings.Contains(resp.Body, "xyzzy") || !strings.Contains(msg, "req-1") {
		t.Errorf("body %s leaks the store error or lacks the request id", resp.Body)
	}
}

func TestDeployAnswersTheNewVersionsLocation(t *testing.T) {
	f := newFixture(t)
	resp := do(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")))
	if got, want := resp.Headers["Location"], "/v1/flows/research_agent/deployments/1"; resp.StatusCode != 201 || got != want {
		t.Fatalf("status %d, Location %q; want 201 and %q", resp.StatusCode, got, want)
	}
	must(t, f.dev, request("GET", resp.Headers["Location"], ""), 200)
}

func TestAHandlerConfiguredToVerifyBearersDoesSoWithoutAnAuthorizer(t *testing.T) {
	f := newFixture(t)
	secret, _ := auth.NewSecret()
	signer := &auth.Signer{Secret: secret}
	authn := &auth.Authenticator{Keys: f.store, Tokens: signer}
	h := f.handler(httpapi.Config{Authenticate: authn.Authenticate})
	token, _, err := signer.Issue(registry.Principal{Project: "team-a", Role: registry.RoleConsumer, ID: "k1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	bearer := func(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
		return withHeaders(anonymous(ev), map[string]string{"Authorization": "Bearer " + token, "x-kitaru-project": "team-a"})
	}
	t.Run("a valid bearer is authenticated by the handler", func(t *testing.T) {
		must(t, h, bearer(request("GET", "/v1/flows", "")), 200)
	})
	t.Run("its role is enforced", func(t *testing.T) {
		wantError(t, do(t, h, bearer(request("PUT", "/v1/flows/a/tags/b", `{"version": 1}`))), 403, registry.CodePermissionDenied)
	})
	// API Gateway answers 401 without calling the authorizer when an
	// identity source is missing; a handler standing in for it does too.
	for _, tt := range []struct {
		name    string
		headers map[string]string
	}{
		{"no bearer is 401", map[string]string{"X-Kitaru-Project": "team-a"}},
		{"a bearer without X-Kitaru-Project is 401", map[string]string{"Authorization": "Bearer " + token}},
		{"an empty X-Kitaru-Project is 401", map[string]string{"Authorization": "Bearer " + token, "X-Kitaru-Project": ""}},
		{"no headers at all is 401", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := wantError(t, do(t, h, withHeaders(anonymous(request("GET", "/v1/flows", "")), tt.headers)), 401, registry.CodeUnauthenticated)
			if msg != httpapi.MissingIdentityMessage {
				t.Errorf("message %q; want the gateway's %q", msg, httpapi.MissingIdentityMessage)
			}
		})
	}
}

func TestAnAuthorizerContextLackingAnyKeyIsUnauthenticated(t *testing.T) {
	f := newFixture(t)
	full := map[string]any{"project": "default", "role": "producer", "principal_id": "k1", "credential": "api_key"}
	t.Run("the full context is served", func(t *testing.T) {
		ev := request("GET", "/v1/flows", "")
		ev.RequestContext.Authorizer = maps.Clone(full)
		must(t, f.dev, ev, 200)
	})
	for key := range full {
		for _, variant := range []struct {
			name  string
			apply func(map[string]any)
		}{
			{"without " + key, func(m map[string]any) { delete(m, key) }},
			{"with an empty " + key, func(m map[string]any) { m[key] = "" }},
		} {
			t.Run("a context "+variant.name+" is 401", func(t *testing.T) {
				ev := request("GET", "/v1/flows", "")
				ev.RequestContext.Authorizer = maps.Clone(full)
				variant.apply(ev.RequestContext.Authorizer)
				wantError(t, do(t, f.dev, ev), 401, registry.CodeUnauthenticated)
			})
		}
	}
	t.Run("a context with an unknown credential kind is 401", func(t *testing.T) {
		ev := request("GET", "/v1/flows", "")
		ev.RequestContext.Authorizer = maps.Clone(full)
		ev.RequestContext.Authorizer["credential"] = "password"
		wantError(t, do(t, f.dev, ev), 401, registry.CodeUnauthenticated)
	})
}
