package awslocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/gateway"
)

// API is the template's REST API as a gateway.Backend: its resources and
// methods, the REQUEST authorizer with its identity sources and result
// cache, and the gateway responses. Functions are invoked under RIE.
type API struct {
	// ID is the REST API id and Stage the stage name.
	ID, Stage string

	routes     []*method
	authorizer *authorizer
	responses  map[gateway.ResponseType]gatewayResponse
	functions  map[string]*Instance // by function ARN
	now        func() time.Time
}

var _ gateway.Backend = (*API)(nil)

type method struct {
	httpMethod string
	resource   string   // /v1/flows/{flow}
	segments   []string // v1, flows, {flow}
	custom     bool     // AuthorizationType CUSTOM
	function   string   // the AWS_PROXY integration's function ARN
}

type authorizer struct {
	function string
	headers  []string // identity sources (method.request.header.X)
	ttl      time.Duration

	mu    sync.Mutex
	cache map[string]cachedDecision
}

type cachedDecision struct {
	decision decision
	expires  time.Time
}

type gatewayResponse struct {
	status   int
	template string
}

// NewAPI reads the template's REST API. instances are the running
// functions; d resolves the template's references.
func NewAPI(t *Template, d *Deployed, instances map[string]*Instance) (*API, error) {
	apiID, err := t.one("AWS::ApiGateway::RestApi")
	if err != nil {
		return nil, err
	}
	stageID, err := t.one("AWS::ApiGateway::Stage")
	if err != nil {
		return nil, err
	}
	a := &API{ID: strings.ToLower(apiID), responses: map[gateway.ResponseType]gatewayResponse{}, functions: map[string]*Instance{}, now: time.Now}
	if a.Stage, err = d.Values.String(t.Resources[stageID].Properties["StageName"]); err != nil {
		return nil, fmt.Errorf("stage %s: %w", stageID, err)
	}
	for _, in := range instances {
		a.functions[in.Function.ARN] = in
	}
	// References between API resources resolve to logical ids.
	vals := Values{apiID: a.ID, apiID + ".RootResourceId": "/"}
	for k, v := range d.Values {
		vals[k] = v
	}
	for _, typ := range []string{"AWS::ApiGateway::Resource", "AWS::ApiGateway::Authorizer"} {
		for _, id := range t.OfType(typ) {
			vals[id] = id
		}
	}
	paths, err := resourcePaths(t, vals)
	if err != nil {
		return nil, err
	}
	for _, id := range t.OfType("AWS::ApiGateway::Authorizer") {
		if a.authorizer != nil {
			return nil, fmt.Errorf("the API has more than one authorizer; aws-local plays one")
		}
		if a.authorizer, err = newAuthorizer(t.Resources[id], vals); err != nil {
			return nil, fmt.Errorf("authorizer %s: %w", id, err)
		}
	}
	for _, id := range t.OfType("AWS::ApiGateway::Method") {
		m, err := newMethod(t.Resources[id], vals, paths)
		if err != nil {
			return nil, fmt.Errorf("method %s: %w", id, err)
		}
		if m.custom && a.authorizer == nil {
			return nil, fmt.Errorf("method %s uses a CUSTOM authorizer the template does not define", id)
		}
		if _, ok := a.functions[m.function]; !ok {
			return nil, fmt.Errorf("method %s integrates %s, which is not running", id, m.function)
		}
		a.routes = append(a.routes, m)
	}
	if a.authorizer != nil {
		if _, ok := a.functions[a.authorizer.function]; !ok {
			return nil, fmt.Errorf("the authorizer's function %s is not running", a.authorizer.function)
		}
	}
	for _, id := range t.OfType("AWS::ApiGateway::GatewayResponse") {
		p := t.Resources[id].Properties
		status, _ := strconv.Atoi(fmt.Sprint(p["StatusCode"]))
		templates, _ := p["ResponseTemplates"].(map[string]any)
		tmpl, _ := templates["application/json"].(string)
		a.responses[gateway.ResponseType(fmt.Sprint(p["ResponseType"]))] = gatewayResponse{status: status, template: tmpl}
	}
	return a, nil
}

// resourcePaths gives every AWS::ApiGateway::Resource its full path.
func resourcePaths(t *Template, vals Values) (map[string]string, error) {
	paths := map[string]string{"/": "/"}
	var walk func(id string, depth int) (string, error)
	walk = func(id string, depth int) (string, error) {
		if p, ok := paths[id]; ok {
			return p, nil
		}
		res, ok := t.Resources[id]
		if !ok || res.Type != "AWS::ApiGateway::Resource" || depth > 64 {
			return "", fmt.Errorf("API resource %s is not in the template", id)
		}
		parentID, err := vals.String(res.Properties["ParentId"])
		if err != nil {
			return "", fmt.Errorf("resource %s parent: %w", id, err)
		}
		parent, err := walk(parentID, depth+1)
		if err != nil {
			return "", err
		}
		p := path.Join(parent, fmt.Sprint(res.Properties["PathPart"]))
		paths[id] = p
		return p, nil
	}
	for _, id := range t.OfType("AWS::ApiGateway::Resource") {
		if _, err := walk(id, 0); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

func newMethod(res Resource, vals Values, paths map[string]string) (*method, error) {
	p := res.Properties
	resourceID, err := vals.String(p["ResourceId"])
	if err != nil {
		return nil, err
	}
	resource, ok := paths[resourceID]
	if !ok {
		return nil, fmt.Errorf("unknown resource %s", resourceID)
	}
	integration, _ := p["Integration"].(map[string]any)
	if integration["Type"] != "AWS_PROXY" {
		return nil, fmt.Errorf("integration type %v: aws-local plays Lambda proxy integrations only", integration["Type"])
	}
	uri, err := vals.String(integration["Uri"])
	if err != nil {
		return nil, fmt.Errorf("integration URI: %w", err)
	}
	fn, err := functionOfURI(uri)
	if err != nil {
		return nil, err
	}
	m := &method{
		httpMethod: fmt.Sprint(p["HttpMethod"]), resource: resource, function: fn,
		custom: p["AuthorizationType"] == "CUSTOM",
	}
	m.segments = splitResource(resource)
	return m, nil
}

// splitResource splits a path into its parts; the root has none.
func splitResource(p string) []string {
	if p == "/" || p == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// functionOfURI reads the function ARN of arn:…:apigateway:…:lambda:path/2015-03-31/functions/<ARN>/invocations.
func functionOfURI(uri string) (string, error) {
	_, rest, ok := strings.Cut(uri, ":lambda:path/2015-03-31/functions/")
	fn, found := strings.CutSuffix(rest, "/invocations")
	if !ok || !found {
		return "", fmt.Errorf("integration URI %q does not name a Lambda function", uri)
	}
	return fn, nil
}

func newAuthorizer(res Resource, vals Values) (*authorizer, error) {
	p := res.Properties
	if p["Type"] != "REQUEST" {
		return nil, fmt.Errorf("type %v: aws-local plays REQUEST authorizers only", p["Type"])
	}
	uri, err := vals.String(p["AuthorizerUri"])
	if err != nil {
		return nil, err
	}
	fn, err := functionOfURI(uri)
	if err != nil {
		return nil, err
	}
	a := &authorizer{function: fn, ttl: 300 * time.Second, cache: map[string]cachedDecision{}}
	if v, ok := p["AuthorizerResultTtlInSeconds"].(float64); ok {
		a.ttl = time.Duration(v) * time.Second
	}
	for _, src := range strings.Split(fmt.Sprint(p["IdentitySource"]), ",") {
		header, ok := strings.CutPrefix(strings.TrimSpace(src), "method.request.header.")
		if !ok {
			return nil, fmt.Errorf("identity source %q: aws-local reads header sources only", src)
		}
		a.headers = append(a.headers, header)
	}
	return a, nil
}

// Match finds the method for a request as API Gateway does: a literal path
// part wins over a {parameter}.
func (a *API) Match(httpMethod, p string) (gateway.Route, bool) {
	segs := splitResource(p)
	var best *method
	var bestParams map[string]string
	for _, m := range a.routes {
		if m.httpMethod != httpMethod && m.httpMethod != "ANY" {
			continue
		}
		params, ok := matchSegments(m.segments, segs)
		if !ok {
			continue
		}
		if best == nil || moreSpecific(m, best) {
			best, bestParams = m, params
		}
	}
	if best == nil {
		return gateway.Route{}, false
	}
	return gateway.Route{Resource: best.resource, PathParameters: bestParams, Target: best.httpMethod + " " + best.resource}, true
}

func matchSegments(tmpl, segs []string) (map[string]string, bool) {
	if len(tmpl) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, t := range tmpl {
		if name, ok := strings.CutPrefix(t, "{"); ok {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[strings.TrimSuffix(name, "}")] = segs[i]
			continue
		}
		if t != segs[i] {
			return nil, false
		}
	}
	return params, true
}

// moreSpecific prefers the earliest literal segment, then an exact method over ANY.
func moreSpecific(m, than *method) bool {
	for i := range m.segments {
		ml, tl := !strings.HasPrefix(m.segments[i], "{"), !strings.HasPrefix(than.segments[i], "{")
		if ml != tl {
			return ml
		}
	}
	return than.httpMethod == "ANY" && m.httpMethod != "ANY"
}

func (a *API) method(route gateway.Route) *method {
	for _, m := range a.routes {
		if m.httpMethod+" "+m.resource == route.Target {
			return m
		}
	}
	return nil
}

// decision is an authorizer's answer: its principal, policy and context.
type decision struct {
	PrincipalID    string `json:"principalId"`
	PolicyDocument struct {
		Statement []struct {
			Effect   string          `json:"Effect"`
			Action   json.RawMessage `json:"Action"`
			Resource json.RawMessage `json:"Resource"`
		} `json:"Statement"`
	} `json:"policyDocument"`
	Context map[string]any `json:"context"`
}

// Authorize plays the REQUEST authorizer: a missing identity source is a
// 401 without calling it; a cached decision is reused for the same sources
// within the TTL; "Unauthorized" is a 401, a policy that does not allow the
// method's ARN a 403, anything malformed a 500. The context reaches the
// integration as strings, plus principalId.
func (a *API) Authorize(ctx context.Context, route gateway.Route, ev *events.APIGatewayProxyRequest) (map[string]any, error) {
	m := a.method(route)
	if m == nil || !m.custom {
		return nil, nil
	}
	az := a.authorizer
	values := make([]string, len(az.headers))
	for i, h := range az.headers {
		values[i] = http.Header(ev.MultiValueHeaders).Get(h)
		if values[i] == "" {
			return nil, gateway.Refuse(gateway.Unauthorized, "identity source %s is missing", h)
		}
	}
	methodARN := fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s/%s", Region, AccountID, a.ID, a.Stage, ev.HTTPMethod, strings.TrimPrefix(ev.Path, "/"))
	key := strings.Join(values, "\x00")
	d, cached := az.lookup(key, a.now())
	if !cached {
		var err error
		if d, err = a.callAuthorizer(ctx, ev, methodARN); err != nil {
			return nil, err
		}
		if az.ttl > 0 {
			az.store(key, d, a.now().Add(az.ttl))
		}
	}
	if effect := evaluate(d, methodARN); effect != "Allow" {
		return nil, gateway.Refuse(gateway.AccessDenied, "the policy's effect for %s is %q", methodARN, effect)
	}
	out := map[string]any{"principalId": d.PrincipalID}
	for k, v := range d.Context {
		out[k] = fmt.Sprint(v)
	}
	return out, nil
}

func (az *authorizer) lookup(key string, now time.Time) (decision, bool) {
	az.mu.Lock()
	defer az.mu.Unlock()
	c, ok := az.cache[key]
	if !ok || now.After(c.expires) {
		return decision{}, false
	}
	return c.decision, true
}

func (az *authorizer) store(key string, d decision, expires time.Time) {
	az.mu.Lock()
	defer az.mu.Unlock()
	az.cache[key] = cachedDecision{decision: d, expires: expires}
}

func (a *API) callAuthorizer(ctx context.Context, ev *events.APIGatewayProxyRequest, methodARN string) (decision, error) {
	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: methodARN, Resource: ev.Resource, Path: ev.Path, HTTPMethod: ev.HTTPMethod,
		Headers: ev.Headers, MultiValueHeaders: ev.MultiValueHeaders,
		QueryStringParameters: ev.QueryStringParameters, MultiValueQueryStringParameters: ev.MultiValueQueryStringParameters,
		PathParameters: ev.PathParameters,
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path: ev.RequestContext.Path, AccountID: AccountID, Stage: a.Stage, RequestID: ev.RequestContext.RequestID,
			ResourcePath: ev.Resource, HTTPMethod: ev.HTTPMethod, APIID: a.ID,
			Identity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: ev.RequestContext.Identity.SourceIP},
		},
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return decision{}, err
	}
	answer, err := a.functions[a.authorizer.function].Invoke(ctx, payload)
	var fnErr *FunctionError
	switch {
	case errors.As(err, &fnErr) && fnErr.Message == "Unauthorized":
		return decision{}, gateway.Refuse(gateway.Unauthorized, "the authorizer answered Unauthorized")
	case err != nil:
		return decision{}, gateway.Refuse(gateway.AuthorizerFailure, "the authorizer failed: %v", err)
	}
	var d decision
	if err := json.Unmarshal(answer, &d); err != nil || d.PrincipalID == "" || len(d.PolicyDocument.Statement) == 0 {
		return decision{}, gateway.Refuse(gateway.AuthorizerFailure, "the authorizer's answer is not a policy with a principal: %s", answer)
	}
	for k, v := range d.Context {
		switch v.(type) {
		case string, float64, bool:
		default:
			return decision{}, gateway.Refuse(gateway.AuthorizerFailure, "authorizer context %q is not a string, number or boolean", k)
		}
	}
	return d, nil
}

// evaluate applies the policy to the method ARN: an explicit Deny wins,
// otherwise an Allow is needed.
func evaluate(d decision, methodARN string) string {
	effect := "none"
	for _, st := range d.PolicyDocument.Statement {
		if !anyMatches(st.Action, "execute-api:Invoke") || !anyMatches(st.Resource, methodARN) {
			continue
		}
		if st.Effect == "Deny" {
			return "Deny"
		}
		if st.Effect == "Allow" {
			effect = "Allow"
		}
	}
	return effect
}

// anyMatches reports whether a policy's Action or Resource (a string or a
// list) matches s, with * and ? wildcards.
func anyMatches(raw json.RawMessage, s string) bool {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return false
		}
		list = []string{one}
	}
	for _, pattern := range list {
		if wildcardMatch(pattern, s) {
			return true
		}
	}
	return false
}

func wildcardMatch(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if wildcardMatch(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && wildcardMatch(pattern[1:], s[1:])
	}
	return s != "" && pattern[0] == s[0] && wildcardMatch(pattern[1:], s[1:])
}

// Integrate invokes the method's function with the proxy event and reads
// its proxy answer; a function error or a malformed answer is a 5xx.
func (a *API) Integrate(ctx context.Context, route gateway.Route, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	m := a.method(route)
	payload, err := json.Marshal(ev)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	answer, err := a.functions[m.function].Invoke(ctx, payload)
	if err != nil {
		return events.APIGatewayProxyResponse{}, gateway.Refuse(gateway.Default5XX, "%v", err)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(answer, &resp); err != nil || resp.StatusCode < 100 || resp.StatusCode > 599 {
		return events.APIGatewayProxyResponse{}, gateway.Refuse(gateway.Default5XX, "malformed Lambda proxy response: %.200s", answer)
	}
	return resp, nil
}

// apiGatewayDefaults are API Gateway's own status and message of each
// response type, used when the template does not customise it.
var apiGatewayDefaults = map[gateway.ResponseType]struct {
	status  int
	message string
}{
	gateway.MissingAuthenticationToken: {403, "Missing Authentication Token"},
	gateway.RequestTooLarge:            {413, "Request Too Long"},
	gateway.Unauthorized:               {401, "Unauthorized"},
	gateway.AccessDenied:               {403, "User is not authorized to access this resource"},
	gateway.AuthorizerFailure:          {500, "Internal server error"},
	gateway.Default5XX:                 {502, "Internal server error"},
}

// Respond renders a refusal with the template's gateway response for its
// type, else the DEFAULT_4XX/5XX one, else API Gateway's own default.
func (a *API) Respond(err error, requestID string) events.APIGatewayProxyResponse {
	typ := gateway.Default5XX
	var refusal *gateway.Refusal
	if errors.As(err, &refusal) {
		typ = refusal.Type
	}
	def, ok := apiGatewayDefaults[typ]
	if !ok {
		def = apiGatewayDefaults[gateway.Default5XX]
	}
	r, ok := a.responses[typ]
	if !ok {
		fallback := gateway.ResponseType("DEFAULT_4XX")
		if def.status >= 500 {
			fallback = gateway.Default5XX
		}
		r, ok = a.responses[fallback]
	}
	status, body := def.status, fmt.Sprintf(`{"message":%q}`, def.message)
	if ok {
		if r.status != 0 {
			status = r.status
		}
		body = strings.ReplaceAll(r.template, "$context.requestId", requestID)
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}, Body: body}
}

// Routes lists "METHOD /path" of every method, sorted (for the start-up summary).
func (a *API) Routes() []string {
	var out []string
	for _, m := range a.routes {
		out = append(out, m.httpMethod+" "+m.resource)
	}
	sort.Strings(out)
	return out
}
