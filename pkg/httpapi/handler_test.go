package httpapi_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestRoutesAreTheContractsTemplatesAndGroups(t *testing.T) {
	want := []httpapi.Route{
		{Method: "POST", Path: "/v1/flows/{flow}/deployments", Group: httpapi.GroupDeploy},
		{Method: "DELETE", Path: "/v1/flows/{flow}/deployments/{version}", Group: httpapi.GroupDeploy},
		{Method: "DELETE", Path: "/v1/flows/{flow}", Group: httpapi.GroupDeploy},
		{Method: "POST", Path: "/v1/flows/{flow}/prune", Group: httpapi.GroupDeploy},
		{Method: "GET", Path: "/v1/stacks", Group: httpapi.GroupDeploy},
		{Method: "POST", Path: "/v1/artifacts", Group: httpapi.GroupDeploy},
		{Method: "PUT", Path: "/v1/secrets/{name}", Group: httpapi.GroupDeploy},
		{Method: "GET", Path: "/v1/secrets", Group: httpapi.GroupDeploy},
		{Method: "DELETE", Path: "/v1/secrets/{name}", Group: httpapi.GroupDeploy},
		{Method: "GET", Path: "/v1/flows/{flow}/diff", Group: httpapi.GroupDeploy},
		{Method: "PUT", Path: "/v1/flows/{flow}/tags/{tag}", Group: httpapi.GroupTag},
		{Method: "DELETE", Path: "/v1/flows/{flow}/tags/{tag}", Group: httpapi.GroupTag},
		{Method: "GET", Path: "/v1/flows/{flow}/tags/{tag}/history", Group: httpapi.GroupTag},
		{Method: "POST", Path: "/v1/flows/{flow}/tags/{tag}/rollback", Group: httpapi.GroupTag},
		{Method: "GET", Path: "/v1/flows", Group: httpapi.GroupResolve},
		{Method: "GET", Path: "/v1/flows/{flow}", Group: httpapi.GroupResolve},
		{Method: "GET", Path: "/v1/flows/{flow}/deployments", Group: httpapi.GroupResolve},
		{Method: "GET", Path: "/v1/flows/{flow}/deployments/{version}", Group: httpapi.GroupResolve},
		{Method: "GET", Path: "/v1/flows/{flow}/resolve", Group: httpapi.GroupResolve},
		{Method: "GET", Path: "/v1/flows/{flow}/tags/{tag}", Group: httpapi.GroupResolve},
		{Method: "GET", Path: "/v1/flows/{flow}/stats", Group: httpapi.GroupResolve},
		{Method: "POST", Path: "/v1/flows/{flow}/invocations", Group: httpapi.GroupInvoke},
		{Method: "POST", Path: "/v1/flows/{flow}/versions/{version}/invocations", Group: httpapi.GroupInvoke},
		{Method: "GET", Path: "/v1/executions/{exec_id}", Group: httpapi.GroupInvoke},
		{Method: "POST", Path: "/v1/executions/{exec_id}/cancel", Group: httpapi.GroupInvoke},
		{Method: "GET", Path: "/v1/flows/{flow}/executions", Group: httpapi.GroupInvoke},
		{Method: "GET", Path: "/v1/executions/{exec_id}/logs", Group: httpapi.GroupInvoke},
		{Method: "POST", Path: "/v1/auth/token", Group: httpapi.GroupAuth},
		{Method: "GET", Path: "/v1/status", Group: httpapi.GroupAuth},
	}
	if diff := cmp.Diff(want, httpapi.Routes()); diff != "" {
		t.Errorf("Routes() mismatch (-want +got):\n%s", diff)
	}
}

func TestMatchPathFindsTheTemplateAndItsParameters(t *testing.T) {
	tests := []struct {
		name, path, template string
		params               map[string]string
	}{
		{"a flow path binds the flow", "/v1/flows/research_agent", "/v1/flows/{flow}", map[string]string{"flow": "research_agent"}},
		{"a tag path binds flow and tag", "/v1/flows/a/tags/stable/history", "/v1/flows/{flow}/tags/{tag}/history", map[string]string{"flow": "a", "tag": "stable"}},
		{"a version path binds flow and version", "/v1/flows/a/deployments/3", "/v1/flows/{flow}/deployments/{version}", map[string]string{"flow": "a", "version": "3"}},
		{"a literal path binds nothing", "/v1/stacks", "/v1/stacks", map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			template, params, ok := httpapi.MatchPath(tt.path)
			if !ok || template != tt.template {
				t.Fatalf("MatchPath(%q) = %q, %v; want %q", tt.path, template, ok, tt.template)
			}
			if diff := cmp.Diff(tt.params, params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
	if _, _, ok := httpapi.MatchPath("/v2/nothing"); ok {
		t.Error("MatchPath matched an unknown path")
	}
}

// TestProducerStoryThroughEveryRoute walks the seed's producer story and
// touches every route, checking statuses and JSON shapes.
func TestProducerStoryThroughEveryRoute(t *testing.T) {
	f := newFixture(t)
	h := f.dev
	steps := []struct {
		name   string
		method string
		target string
		body   string
		header [2]string
		status int
		check  func(t *testing.T, body string)
	}{
		{"the first deploy creates version 1 routed as default", "POST", "/v1/flows/research_agent/deployments",
			deployBody(`"source": {"archive": "` + researchArchive + `", "commit": "1234567", "dirty": true}, "input_schema": {"type": "object"}, "description": "first"`), [2]string{}, 201,
			func(t *testing.T, body string) {
				d := decode[registry.Deployment](t, body)
				want := registry.Deployment{
					Project: "default", Flow: "research_agent", Version: 1, Snapshot: "kitaru::research_agent::v1",
					Tags: map[string]bool{"default": true}, Entrypoint: "flows/research.py:research_agent",
					Source: &registry.Source{Digest: researchDigest(t), Size: researchSize(t), Commit: "1234567", Dirty: true},
					Inputs: []byte(`{"topic":"durable agents"}`), InputSchema: []byte(`{"type":"object"}`),
					Stack: "dev", Description: "first", CreatedBy: "dev",
				}
				if diff := cmp.Diff(want, d, cmpopts.IgnoreFields(registry.Deployment{}, "CreatedAt")); diff != "" {
					t.Errorf("deployment (-want +got):\n%s", diff)
				}
				wantKeys := []string{"created_at", "created_by", "description", "entrypoint", "flow", "input_schema", "inputs", "project", "snapshot", "source", "stack", "tags", "version"}
				if keys := slices.Sorted(maps.Keys(decode[map[string]any](t, body))); !slices.Equal(keys, wantKeys) {
					t.Errorf("deployment JSON keys = %v, want %v", keys, wantKeys)
				}
			}},
		{"a canary deploy creates version 2 with only its canary tag", "POST", "/v1/flows/research_agent/deployments",
			deployBody(`"tag": "canary", "exclusive": true, "stack": "dev"`), [2]string{}, 201,
			func(t *testing.T, body string) {
				d := decode[registry.Deployment](t, body)
				if d.Version != 2 || !cmp.Equal(d.Tags, map[string]bool{"canary": true}) {
					t.Errorf("got version %d tags %v, want 2 {canary: true}", d.Version, d.Tags)
				}
			}},
		{"resolving canary picks version 2", "GET", "/v1/flows/research_agent/resolve?tag=canary", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				r := decode[registry.Resolution](t, body)
				if r.Selector != (registry.Selector{Tag: "canary"}) || r.Deployment.Version != 2 {
					t.Errorf("resolved %+v to version %d, want tag canary → 2", r.Selector, r.Deployment.Version)
				}
			}},
		{"resolving with no selector picks default", "GET", "/v1/flows/research_agent/resolve", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				r := decode[registry.Resolution](t, body)
				if r.Selector.Tag != "default" || r.Deployment.Version != 1 {
					t.Errorf("resolved %+v to version %d, want tag default → 1", r.Selector, r.Deployment.Version)
				}
			}},
		{"resolving a version pins it", "GET", "/v1/flows/research_agent/resolve?version=1", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				r := decode[registry.Resolution](t, body)
				if r.Selector != (registry.Selector{Version: 1}) || r.Deployment.Version != 1 {
					t.Errorf("resolved %+v to version %d, want version 1", r.Selector, r.Deployment.Version)
				}
			}},
		{"tagging version 2 stable exclusively answers the tag", "PUT", "/v1/flows/research_agent/tags/stable",
			`{"version": 2, "exclusive": true}`, [2]string{}, 200,
			func(t *testing.T, body string) {
				tag := decode[registry.Tag](t, body)
				want := registry.Tag{Flow: "research_agent", Name: "stable", Exclusive: true, Versions: []int{2}}
				if diff := cmp.Diff(want, tag, cmpopts.IgnoreFields(registry.Tag{}, "Revision")); diff != "" {
					t.Errorf("tag (-want +got):\n%s", diff)
				}
			}},
		{"moving stable with a stale If-Match revision is refused", "PUT", "/v1/flows/research_agent/tags/stable",
			`{"version": 1, "exclusive": true}`, [2]string{"If-Match", `"999"`}, 412, nil},
		{"a shared benchmark tag joins version 2", "PUT", "/v1/flows/research_agent/tags/benchmark",
			`{"version": 2}`, [2]string{}, 200,
			func(t *testing.T, body string) {
				if tag := decode[registry.Tag](t, body); tag.Exclusive || !slices.Equal(tag.Versions, []int{2}) {
					t.Errorf("tag = %+v, want shared on [2]", tag)
				}
			}},
		{"the flow summary shows every route", "GET", "/v1/flows/research_agent", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				s := decode[registry.FlowSummary](t, body)
				wantTags := map[string][]int{"default": {1}, "canary": {2}, "stable": {2}, "benchmark": {2}}
				if s.DeploymentCount != 2 || s.LatestVersion != 2 || s.DefaultVersion == nil || *s.DefaultVersion != 1 || !cmp.Equal(s.Tags, wantTags) {
					t.Errorf("summary = %+v, want 2 deployments, latest 2, default 1, tags %v", s, wantTags)
				}
			}},
		{"the flow list holds the flow", "GET", "/v1/flows", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				p := decode[registry.Page[registry.FlowSummary]](t, body)
				if len(p.Items) != 1 || p.Items[0].Flow != "research_agent" || p.NextToken != "" {
					t.Errorf("flows = %+v, want research_agent only", p)
				}
			}},
		{"the first page of one deployment is the newest with a next token", "GET", "/v1/flows/research_agent/deployments?limit=1", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				p := decode[registry.Page[registry.Deployment]](t, body)
				if len(p.Items) != 1 || p.Items[0].Version != 2 || p.NextToken == "" {
					t.Fatalf("page = %+v, want version 2 and a next token", p)
				}
				if want := map[string]bool{"canary": true, "stable": true, "benchmark": false}; !cmp.Equal(p.Items[0].Tags, want) {
					t.Errorf("version 2 tags = %v, want %v", p.Items[0].Tags, want)
				}
				second := decode[registry.Page[registry.Deployment]](t, must(t, f.dev, request("GET", "/v1/flows/research_agent/deployments?limit=1&next_token="+p.NextToken, ""), 200))
				if len(second.Items) != 1 || second.Items[0].Version != 1 || second.NextToken != "" {
					t.Errorf("second page = %+v, want version 1 and no next token", second)
				}
				if strings.Contains(must(t, f.dev, request("GET", "/v1/flows/research_agent/deployments", ""), 200), "next_token") {
					t.Error("the last page carries next_token")
				}
			}},
		{"one deployment is answered by version", "GET", "/v1/flows/research_agent/deployments/2", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				if d := decode[registry.Deployment](t, body); d.Version != 2 || d.Snapshot != "kitaru::research_agent::v2" {
					t.Errorf("deployment = %+v, want version 2", d)
				}
			}},
		{"deleting version 2 is refused naming its exclusive tags", "DELETE", "/v1/flows/research_agent/deployments/2", "", [2]string{}, 409,
			func(t *testing.T, body string) {
				msg := decode[api.ErrorBody](t, body).Error.Message
				if !strings.Contains(msg, "canary") || !strings.Contains(msg, "stable") {
					t.Errorf("message %q does not name canary and stable", msg)
				}
			}},
		{"moving stable to version 1 without If-Match works", "PUT", "/v1/flows/research_agent/tags/stable",
			`{"version": 1, "exclusive": true}`, [2]string{}, 200, nil},
		{"rolling stable back returns it to version 2", "POST", "/v1/flows/research_agent/tags/stable/rollback", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				if tag := decode[registry.Tag](t, body); !slices.Equal(tag.Versions, []int{2}) {
					t.Errorf("tag = %+v, want stable on [2]", tag)
				}
			}},
		{"stable's history lists its moves newest first", "GET", "/v1/flows/research_agent/tags/stable/history?limit=10", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				p := decode[registry.Page[registry.RouteChange]](t, body)
				var actions []registry.Action
				for _, c := range p.Items {
					actions = append(actions, c.Action)
					if c.By != "dev" || c.Tag != "stable" {
						t.Errorf("change %+v, want by dev on stable", c)
					}
				}
				if want := []registry.Action{registry.ActionRollback, registry.ActionMove, registry.ActionMove}; !slices.Equal(actions, want) {
					t.Errorf("actions = %v, want %v", actions, want)
				}
			}},
		{"removing benchmark from version 2 answers 204", "DELETE", "/v1/flows/research_agent/tags/benchmark?version=2", "", [2]string{}, 204,
			func(t *testing.T, body string) {
				if body != "" {
					t.Errorf("body = %q, want empty", body)
				}
			}},
		{"removing default is refused", "DELETE", "/v1/flows/research_agent/tags/default?version=1", "", [2]string{}, 409, nil},
		{"moving canary and stable away frees version 2", "PUT", "/v1/flows/research_agent/tags/canary", `{"version": 1, "exclusive": true}`, [2]string{}, 200,
			func(t *testing.T, _ string) {
				must(t, f.dev, request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`), 200)
			}},
		{"deleting the freed version 2 answers 204", "DELETE", "/v1/flows/research_agent/deployments/2", "", [2]string{}, 204, nil},
		{"the deleted version is gone", "GET", "/v1/flows/research_agent/deployments/2", "", [2]string{}, 404, nil},
		{"the stacks list the dev stacks and the default", "GET", "/v1/stacks", "", [2]string{}, 200,
			func(t *testing.T, body string) {
				got := decode[map[string]any](t, body)
				want := map[string]any{
					"items":   []any{map[string]any{"name": "dev", "remote_executable": true}, map[string]any{"name": "local", "remote_executable": false}},
					"default": "dev",
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("stacks (-want +got):\n%s", diff)
				}
			}},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) {
			ev := request(step.method, step.target, step.body)
			if step.header[0] != "" {
				ev = withHeader(ev, step.header[0], step.header[1])
			}
			resp := do(t, h, ev)
			if resp.StatusCode != step.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, step.status, resp.Body)
			}
			if resp.StatusCode >= 400 {
				wantError(t, resp, step.status, decode[api.ErrorBody](t, resp.Body).Error.Code)
			}
			if step.check != nil {
				step.check(t, resp.Body)
			}
		}) && step.method != "GET" {
			t.FailNow() // later steps build on what this one changed
		}
	}
}
