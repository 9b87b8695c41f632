package httpapi

import (
	"context"
	"slices"
	"strings"
)

// Group names the Lambda function that serves a set of routes.
type Group string

// The route groups, one per Lambda function under functions/.
const (
	GroupDeploy  Group = "deploy"
	GroupTag     Group = "tag"
	GroupResolve Group = "resolve"
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
}

// endpoints is the route table; Routes, matching and the API Gateway
// resources all derive from it.
var endpoints = []endpoint{
	{Route{"POST", "/v1/flows/{flow}/deployments", GroupDeploy}, (*Handler).deploy},
	{Route{"DELETE", "/v1/flows/{flow}/deployments/{version}", GroupDeploy}, (*Handler).deleteDeployment},
	{Route{"GET", "/v1/stacks", GroupDeploy}, (*Handler).listStacks},

	{Route{"PUT", "/v1/flows/{flow}/tags/{tag}", GroupTag}, (*Handler).putTag},
	{Route{"DELETE", "/v1/flows/{flow}/tags/{tag}", GroupTag}, (*Handler).removeTag},
	{Route{"GET", "/v1/flows/{flow}/tags/{tag}/history", GroupTag}, (*Handler).tagHistory},
	{Route{"POST", "/v1/flows/{flow}/tags/{tag}/rollback", GroupTag}, (*Handler).rollbackTag},

	{Route{"GET", "/v1/flows", GroupResolve}, (*Handler).listFlows},
	{Route{"GET", "/v1/flows/{flow}", GroupResolve}, (*Handler).getFlow},
	{Route{"GET", "/v1/flows/{flow}/deployments", GroupResolve}, (*Handler).listDeployments},
	{Route{"GET", "/v1/flows/{flow}/deployments/{version}", GroupResolve}, (*Handler).getDeployment},
	{Route{"GET", "/v1/flows/{flow}/resolve", GroupResolve}, (*Handler).resolve},
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
