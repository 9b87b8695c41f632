package httpapi

import (
	"context"
	"slices"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
)

// Group names the Lambda function that serves a set of routes.
type Group string

// The route groups, one per Lambda function under functions/.
const (
	GroupDeploy  Group = "deploy"
	GroupTag     Group = "tag"
	GroupResolve Group = "resolve"
	GroupInvoke  Group = "invoke"
	GroupAuth    Group = "auth"
)

// Route is one operation of the HTTP contract. Path is the OpenAPI template
// (the API Gateway resource path), e.g. /v1/flows/{flow}/deployments.
type Route struct {
	Method string
	Path   string
	Group  Group
}

// endpoint binds a route to the method of Handler that serves it.
type endpoint struct {
	Route
	serve func(h *Handler, ctx context.Context, c *call) (reply, error)
	// consumer marks the writes a consumer may make (invoking); reads are always allowed.
	consumer bool
	// maxBody overrides MaxBodyBytes for the route.
	maxBody int
	// keyed marks the writes an Idempotency-Key makes run once (idempotency.go);
	// invocations key their executions themselves.
	keyed bool
}

// endpoints is the route table; Routes, matching and the API Gateway
// resources all derive from it.
var endpoints = []endpoint{
	{Route: Route{"POST", "/v1/flows/{flow}/deployments", GroupDeploy}, serve: (*Handler).deploy, maxBody: MaxDeployBodyBytes, keyed: true},
	{Route: Route{"DELETE", "/v1/flows/{flow}/deployments/{version}", GroupDeploy}, serve: (*Handler).deleteDeployment, keyed: true},
	{Route: Route{"DELETE", "/v1/flows/{flow}", GroupDeploy}, serve: (*Handler).deleteFlow, keyed: true},
	{Route: Route{"POST", "/v1/flows/{flow}/prune", GroupDeploy}, serve: (*Handler).prune, keyed: true},
	{Route: Route{"GET", "/v1/stacks", GroupDeploy}, serve: (*Handler).listStacks},
	{Route: Route{"POST", "/v1/artifacts", GroupDeploy}, serve: (*Handler).createArtifact},
	{Route: Route{"PUT", "/v1/secrets/{name}", GroupDeploy}, serve: (*Handler).putSecret},
	{Route: Route{"GET", "/v1/secrets", GroupDeploy}, serve: (*Handler).listSecrets},
	{Route: Route{"DELETE", "/v1/secrets/{name}", GroupDeploy}, serve: (*Handler).deleteSecret},
	// Diff reads bundles, which only the deploy group's function may.
	{Route: Route{"GET", "/v1/flows/{flow}/diff", GroupDeploy}, serve: (*Handler).diff},

	{Route: Route{"PUT", "/v1/flows/{flow}/tags/{tag}", GroupTag}, serve: (*Handler).putTag, keyed: true},
	{Route: Route{"DELETE", "/v1/flows/{flow}/tags/{tag}", GroupTag}, serve: (*Handler).removeTag, keyed: true},
	{Route: Route{"GET", "/v1/flows/{flow}/tags/{tag}/history", GroupTag}, serve: (*Handler).tagHistory},
	{Route: Route{"POST", "/v1/flows/{flow}/tags/{tag}/rollback", GroupTag}, serve: (*Handler).rollbackTag, keyed: true},

	{Route: Route{"GET", "/v1/flows", GroupResolve}, serve: (*Handler).listFlows},
	{Route: Route{"GET", "/v1/flows/{flow}", GroupResolve}, serve: (*Handler).getFlow},
	{Route: Route{"GET", "/v1/flows/{flow}/deployments", GroupResolve}, serve: (*Handler).listDeployments},
	{Route: Route{"GET", "/v1/flows/{flow}/deployments/{version}", GroupResolve}, serve: (*Handler).getDeployment},
	{Route: Route{"GET", "/v1/flows/{flow}/resolve", GroupResolve}, serve: (*Handler).resolve},
	{Route: Route{"GET", "/v1/flows/{flow}/tags/{tag}", GroupResolve}, serve: (*Handler).getTag},
	{Route: Route{"GET", "/v1/flows/{flow}/stats", GroupResolve}, serve: (*Handler).flowStats},

	{Route: Route{"POST", "/v1/flows/{flow}/invocations", GroupInvoke}, serve: (*Handler).invoke, consumer: true},
	{Route: Route{"POST", "/v1/flows/{flow}/versions/{version}/invocations", GroupInvoke}, serve: (*Handler).invokePinned, consumer: true},
	{Route: Route{"GET", "/v1/executions/{exec_id}", GroupInvoke}, serve: (*Handler).getExecution},
	{Route: Route{"POST", "/v1/executions/{exec_id}/cancel", GroupInvoke}, serve: (*Handler).cancelExecution, consumer: true, keyed: true},
	{Route: Route{"GET", "/v1/flows/{flow}/executions", GroupInvoke}, serve: (*Handler).listExecutions},
	{Route: Route{"GET", "/v1/executions/{exec_id}/logs", GroupInvoke}, serve: (*Handler).executionLogs},

	{Route: Route{"POST", "/v1/auth/token", GroupAuth}, serve: (*Handler).issueToken, consumer: true},
	{Route: Route{"GET", "/v1/status", GroupAuth}, serve: (*Handler).status},
}

// Routes returns every route of the HTTP API served by this package.
func Routes() []Route {
	routes := make([]Route, len(endpoints))
	for i, e := range endpoints {
		routes[i] = e.Route
	}
	return routes
}

// MatchPath finds the route template a request path matches and the path
// parameters it binds, e.g. /v1/flows/a/tags/b → /v1/flows/{flow}/tags/{tag},
// {flow: a, tag: b}. It ignores the method: API Gateway resources are per path.
func MatchPath(path string) (template string, params map[string]string, ok bool) {
	for _, e := range endpoints {
		if params, ok := matchTemplate(e.Path, path); ok {
			return e.Path, params, true
		}
	}
	return "", nil, false
}

// matchTemplate matches path against a template whose {name} segments each
// bind one path segment. An empty segment binds too, so that
// /v1/flows//deployments is answered "flow name is empty" rather than 404.
func matchTemplate(template, path string) (map[string]string, bool) {
	want := strings.Split(template, "/")
	got := strings.Split(path, "/")
	if len(want) != len(got) {
		return nil, false
	}
	params := map[string]string{}
	for i, w := range want {
		if name, isParam := strings.CutPrefix(w, "{"); isParam {
			params[strings.TrimSuffix(name, "}")] = got[i]
		} else if w != got[i] {
			return nil, false
		}
	}
	return params, true
}

// route finds the endpoint for method and path among the groups h serves.
// allowed lists the methods the path supports when the method does not match.
func (h *Handler) route(method, path string) (e endpoint, params map[string]string, allowed []string, found bool) {
	for _, cand := range endpoints {
		if !h.serves(cand.Group) {
			continue
		}
		p, ok := matchTemplate(cand.Path, path)
		if !ok {
			continue
		}
		if cand.Method == method {
			return cand, p, nil, true
		}
		if !slices.Contains(allowed, cand.Method) {
			allowed = append(allowed, cand.Method)
		}
	}
	slices.Sort(allowed)
	return endpoint{}, nil, allowed, false
}

func (h *Handler) serves(g Group) bool {
	return len(h.cfg.Groups) == 0 || slices.Contains(h.cfg.Groups, g)
}

// noRoute refuses a path that is no route of the API. Most such requests
// come from a base URL that lacks or repeats a part (a stage, a prefix), so
// the message says where the routes are rooted.
func noRoute(method, path string) *registry.Error {
	return registry.Errorf(registry.CodeNotFound, "no API route %s %s; every route starts with /v1/ (GET /v1/flows lists the flows): check the base URL, which is everything before /v1", method, clipID(path)).
		WithReason(registry.ReasonNoRoute)
}
