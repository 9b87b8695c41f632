package awslocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
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
	authorizer *gateway.Authorizer // nil when the template defines none
	// authorizerFunction is the authorizer's function ARN.
	authorizerFunction string
	responses          map[gateway.ResponseType]gatewayResponse
	functions          map[string]*Instance // by function ARN
	now                func() time.Time
}

var _ gateway.Backend = (*API)(nil)

type method struct {
	httpMethod string
	resource   string   // /v1/flows/{flow}
	segments   []string // v1, flows, {flow}
	custom     bool     // AuthorizationType CUSTOM
	function   string   // the AWS_PROXY integration's function ARN
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
		if a.authorizerFunction, a.authorizer, err = a.newAuthorizer(t.Resources[id], vals); err != nil {
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
		if _, ok := a.functions[a.authorizerFunction]; !ok {
			return nil, fmt.Errorf("the authorizer's function %s is not running", a.authorizerFunction)
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

// newAuthorizer reads the REQUEST authorizer: its function, identity
// sources and cache TTL; the gateway's Authorizer plays it, calling the
// function under RIE.
func (a *API) newAuthorizer(res Resource, vals Values) (string, *gateway.Authorizer, error) {
	p := res.Properties
	if p["Type"] != "REQUEST" {
		return "", nil, fmt.Errorf("type %v: aws-local plays REQUEST authorizers only", p["Type"])
	}
	uri, err := vals.String(p["AuthorizerUri"])
	if err != nil {
		return "", nil, err
	}
	fn, err := functionOfURI(uri)
	if err != nil {
		return "", nil, err
	}
	az := &gateway.Authorizer{
		Call: a.callAuthorizer, TTL: 300 * time.Second,
		Region: Region, AccountID: AccountID, APIID: a.ID, Stage: a.Stage,
		Now: func() time.Time { return a.now() },
	}
	if v, ok := p["AuthorizerResultTtlInSeconds"].(float64); ok {
		az.TTL = time.Duration(v) * time.Second
	}
	for _, src := range strings.Split(fmt.Sprint(p["IdentitySource"]), ",") {
		header, ok := strings.CutPrefix(strings.TrimSpace(src), "method.request.header.")
		if !ok {
			return "", nil, fmt.Errorf("identity source %q: aws-local reads header sources only", src)
		}
		az.IdentityHeaders = append(az.IdentityHeaders, header)
	}
	return fn, az, nil
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

// Authorize plays the REQUEST authorizer on methods that use it
// (gateway.Authorizer: identity sources, result cache, policy).
func (a *API) Authorize(ctx context.Context, route gateway.Route, ev *events.APIGatewayProxyRequest) (map[string]any, error) {
	m := a.method(route)
	if m == nil || !m.custom {
		return nil, nil
	}
	return a.authorizer.Authorize(ctx, ev)
}

// callAuthorizer invokes the authorizer function under RIE; its
// "Unauthorized" function error is gateway.ErrUnauthorized.
func (a *API) callAuthorizer(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) ([]byte, error) {
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	answer, err := a.functions[a.authorizerFunction].Invoke(ctx, payload)
	var fnErr *FunctionError
	if errors.As(err, &fnErr) && fnErr.Message == "Unauthorized" {
		return nil, gateway.ErrUnauthorized
	}
	return answer, err
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
