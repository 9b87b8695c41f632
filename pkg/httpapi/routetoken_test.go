package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/routecache"
)

// The tag and resolve functions of the AWS deployment are separate
// processes, each with its own route cache: a change made through one is
// read through the other at once by the caller that sends back the
// revision it was answered, however long the cache's bound.
func TestTheMoverResolvesItsOwnChangeThroughAnotherProcessAtOnce(t *testing.T) {
	f := newFixture(t)
	cached := func() *httpapi.Handler {
		return httpapi.New(routecache.New(f.store, routecache.Config{Bound: time.Hour}), httpapi.Config{Stacks: devStacks, Artifacts: artifactStore})
	}
	tagFn, resolveFn := cached(), cached()
	for range 3 {
		must(t, tagFn, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	}
	must(t, tagFn, request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`), 200)
	const resolve = "/v1/flows/research_agent/resolve?tag=stable"
	tests := []struct {
		name   string
		change string // method and target
		body   string
		status int
		// want is the version the mover resolves after the change; 0 is not found.
		want int
	}{
		{"a move", "PUT /v1/flows/research_agent/tags/stable", `{"version": 2, "exclusive": true}`, 200, 2},
		{"a rollback", "POST /v1/flows/research_agent/tags/stable/rollback", "", 200, 1},
		{"a deploy routing the tag", "POST /v1/flows/research_agent/deployments", deployBody(`"tag": "stable", "exclusive": true`), 201, 4},
		{"removing the tag", "DELETE /v1/flows/research_agent/tags/stable?version=4", "", 204, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is resolved by the mover at once", func(t *testing.T) {
			before := decode[registry.Resolution](t, must(t, resolveFn, request("GET", resolve, ""), 200)).Deployment.Version
			var method, target string
			fmt.Sscan(tt.change, &method, &target)
			resp := do(t, tagFn, request(method, target, tt.body))
			if resp.StatusCode != tt.status {
				t.Fatalf("%s answered %d: %s", tt.change, resp.StatusCode, resp.Body)
			}
			token := resp.Headers[registry.HeaderRouteRevision]
			if token == "" {
				t.Fatalf("%s answered no %s header", tt.change, registry.HeaderRouteRevision)
			}
			stale := decode[registry.Resolution](t, must(t, resolveFn, request("GET", resolve, ""), 200)).Deployment.Version
			if stale != before {
				t.Fatalf("without the revision the resolve answered v%d, want the cached v%d (the cache is not in use)", stale, before)
			}
			got := do(t, resolveFn, withHeader(request("GET", resolve, ""), registry.HeaderRouteRevision, token))
			if tt.want == 0 {
				wantError(t, got, 404, registry.CodeNotFound)
				return
			}
			if v := decode[registry.Resolution](t, got.Body).Deployment.Version; got.StatusCode != 200 || v != tt.want {
				t.Fatalf("with %s: %s the mover resolved v%d (%d), want v%d", registry.HeaderRouteRevision, token, v, got.StatusCode, tt.want)
			}
		})
	}
	t.Run("deleting the flow is resolved by the deleter at once, for every tag", func(t *testing.T) {
		set := do(t, tagFn, request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 3, "exclusive": true}`))
		must(t, resolveFn, withHeader(request("GET", resolve, ""), registry.HeaderRouteRevision, set.Headers[registry.HeaderRouteRevision]), 200)
		must(t, resolveFn, request("GET", "/v1/flows/research_agent/resolve", ""), 200) // default, cached too
		resp := do(t, tagFn, request("DELETE", "/v1/flows/research_agent?force=true", ""))
		token := resp.Headers[registry.HeaderRouteRevision]
		if resp.StatusCode != 200 || token == "" {
			t.Fatalf("the flow delete answered %d with %s %q", resp.StatusCode, registry.HeaderRouteRevision, token)
		}
		if stale := do(t, resolveFn, request("GET", resolve, "")); stale.StatusCode != 200 {
			t.Fatalf("without the revision the resolve answered %d, want the cached route (the cache is not in use)", stale.StatusCode)
		}
		for _, target := range []string{resolve, "/v1/flows/research_agent/resolve"} {
			wantError(t, do(t, resolveFn, withHeader(request("GET", target, ""), registry.HeaderRouteRevision, token)), 404, registry.CodeNotFound)
		}
	})
}

func TestARouteRevisionThatIsNotANumberIsRefused(t *testing.T) {
	f := newFixture(t)
	must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	for _, ev := range []string{"GET /v1/flows/research_agent/resolve", "POST /v1/flows/research_agent/invocations"} {
		var method, target string
		fmt.Sscan(ev, &method, &target)
		resp := do(t, f.dev, withHeader(request(method, target, "{}"), registry.HeaderRouteRevision, "soon"))
		wantError(t, resp, 400, registry.CodeInvalidArgument)
	}
}
