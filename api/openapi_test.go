// Package api_test checks api/openapi.yaml: that it is a valid OpenAPI 3
// document, that it lists exactly the routes pkg/httpapi serves, and that
// the real server (kitaru dev's stack on an in-process DynamoDB) answers
// requests the way the document says.
package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

const documentPath = "openapi.yaml"

// loadDocument loads and validates the contract; tests run in api/.
func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(documentPath)
	if err != nil {
		t.Fatalf("load %s: %v", documentPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", documentPath, err)
	}
	return doc
}

func TestDocumentIsValidOpenAPI303(t *testing.T) {
	doc := loadDocument(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
}

// routeKey names a route as "METHOD /path/{template}".
func routeKey(method, path string) string { return strings.ToUpper(method) + " " + path }

func TestDocumentListsExactlyTheServedRoutes(t *testing.T) {
	doc := loadDocument(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[routeKey(method, path)] = true
		}
	}
	served := map[string]bool{}
	for _, r := range httpapi.Routes() {
		served[routeKey(r.Method, r.Path)] = true
	}
	if len(served) == 0 {
		t.Fatal("httpapi.Routes() returned no routes")
	}

	var missing, unserved []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !served[k] {
			unserved = append(unserved, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(unserved)
	for _, k := range missing {
		t.Errorf("served route %s is missing from %s: document it (exact path template)", k, documentPath)
	}
	for _, k := range unserved {
		t.Errorf("%s documents %s, which httpapi.Routes() does not serve: remove it or serve it", documentPath, k)
	}
}

// errorStatuses are the statuses whose body is the error envelope.
var errorStatuses = []int{400, 401, 403, 404, 409, 412, 413, 422, 500}

func TestEveryOperationIsDescribedForUsers(t *testing.T) {
	doc := loadDocument(t)
	errorRef := "#/components/schemas/Error"
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := routeKey(method, path)
			if op.OperationID == "" || op.Summary == "" || op.Description == "" {
				t.Errorf("%s needs an operationId, a summary and a description", name)
			}
			if op.Responses.Default() == nil {
				t.Errorf("%s has no default (error envelope) response", name)
			}
			success := false
			for code, ref := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil || status < 200 || status > 299 {
					if !slices.Contains(errorStatuses, status) && code != "default" {
						t.Errorf("%s documents status %s, which is not one of the contract's error statuses", name, code)
					}
					mt := ref.Value.Content.Get("application/json")
					if mt == nil || mt.Schema == nil || mt.Schema.Ref != errorRef {
						t.Errorf("%s: response %s must be the error envelope (%s)", name, code, errorRef)
					}
					continue
				}
				success = true
			}
			if !success {
				t.Errorf("%s documents no 2xx response", name)
			}
			for _, status := range []int{400, 401, 500} {
				if op.Responses.Status(status) == nil && !(status == 400 && path == "/v1/stacks") {
					t.Errorf("%s does not document %d", name, status)
				}
			}
			if method != http.MethodGet && op.Responses.Status(403) == nil {
				t.Errorf("%s changes state but does not document 403 (consumers may only read)", name)
			}
		}
	}
}

func TestErrorCodesMatchTheDomain(t *testing.T) {
	doc := loadDocument(t)
	var documented []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		documented = append(documented, fmt.Sprint(v))
	}
	domain := []string{
		string(registry.CodeInvalidArgument), string(registry.CodeUnauthenticated), string(registry.CodePermissionDenied),
		string(registry.CodeNotFound), string(registry.CodeConflict), string(registry.CodePreconditionFailed),
		string(registry.CodePayloadTooLarge), string(registry.CodeUnprocessable), string(registry.CodeIdempotencyMismatch), string(registry.CodeRateLimited),
		string(registry.CodeInternal), string(registry.CodeUnavailable),
	}
	slices.Sort(documented)
	slices.Sort(domain)
	if !slices.Equal(documented, domain) {
		t.Errorf("ErrorCode enum = %v, want the domain's codes %v", documented, domain)
	}
}

// contract drives the real dev server and checks each exchange against the document.
type contract struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	base   string
	key    string // the dev server's API key, sent unless the exchange sets Authorization
}

func newContract(t *testing.T) *contract {
	t.Helper()
	doc := loadDocument(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := devstack.Start(ctx, devstack.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close dev server: %v", err)
		}
	})
	// Route requests to the test server with the document's paths.
	doc.Servers = openapi3.Servers{{URL: srv.URL()}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("build router from %s: %v", documentPath, err)
	}
	return &contract{t: t, doc: doc, router: router, base: srv.URL(), key: srv.APIKey()}
}

// exchange is one request and what it must get.
type exchange struct {
	method, path string
	query        url.Values
	header       http.Header
	body         string
	want         int
	// invalid marks a request the server must refuse AND the document must
	// reject too: the document is as strict as the server.
	invalid bool
}

func (c *contract) newRequest(e exchange) *http.Request {
	c.t.Helper()
	u := c.base + e.path
	if len(e.query) > 0 {
		u += "?" + e.query.Encode()
	}
	var body io.Reader
	if e.body != "" {
		body = strings.NewReader(e.body)
	}
	req, err := http.NewRequest(e.method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if e.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	for k, vs := range e.header {
		req.Header[k] = vs
	}
	return req
}

// with returns c reporting to t (a subtest).
func (c *contract) with(t *testing.T) *contract {
	cc := *c
	cc.t = t
	return &cc
}

// do sends the exchange and checks the request, the status and the response
// against the document. It reports whether the status was the wanted one.
func (c *contract) do(e exchange) (statusOK bool) {
	c.t.Helper()
	name := routeKey(e.method, e.path)
	if len(e.query) > 0 {
		name += "?" + e.query.Encode()
	}
	ctx := context.Background()
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	// Name the offending field instead of dumping the whole schema.
	opts.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	})

	check := c.newRequest(e)
	route, params, err := c.router.FindRoute(check)
	if err != nil {
		c.t.Fatalf("%s: no operation in %s: %v", name, documentPath, err)
	}
	input := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, input)
	switch {
	case e.invalid && reqErr == nil:
		c.t.Errorf("%s: the server refuses this request, but %s accepts it; tighten the document", name, documentPath)
	case !e.invalid && reqErr != nil:
		c.t.Errorf("%s: request does not match %s: %v", name, documentPath, reqErr)
	}

	resp, err := http.DefaultClient.Do(c.newRequest(e))
	if err != nil {
		c.t.Fatalf("%s: %v", name, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s: read body: %v", name, err)
	}
	if resp.StatusCode != e.want {
		c.t.Errorf("%s: status %d, want %d; body: %s", name, resp.StatusCode, e.want, clipBody(raw))
		return false
	}
	if route.Operation.Responses.Status(resp.StatusCode) == nil {
		c.t.Errorf("%s: answered %d, which %s does not list for this operation", name, resp.StatusCode, documentPath)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                opts,
	}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s: %d response does not match %s: %v\nbody: %s", name, resp.StatusCode, documentPath, err, clipBody(raw))
	}
	return true
}

// clipBody keeps failure messages readable when a body is large.
func clipBody(raw []byte) string {
	const max = 2000
	if len(raw) > max {
		return string(raw[:max]) + "…"
	}
	return string(raw)
}

func TestServerAnswersAsDocumented(t *testing.T) {
	c := newContract(t)
	const flow = "/v1/flows/research_agent"
	ifMatch := func(rev string) http.Header { return http.Header{"If-Match": {rev}} }
	key := func(k string) http.Header { return http.Header{"Idempotency-Key": {k}} }
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}

	archive, err := bundletest.ResearchArchive()
	if err != nil {
		t.Fatal(err)
	}
	src := `"source": {"archive": "` + archive + `"}`
	steps := []struct {
		name string
		exchange
	}{
		{"stacks list the remote-executable dev stack and the local one", exchange{method: "GET", path: "/v1/stacks", want: 200}},
		{"an unknown flow is not found", exchange{method: "GET", path: flow, want: 404}},
		{"a flow name starting with a digit is refused", exchange{method: "GET", path: "/v1/flows/9lives", want: 400, invalid: true}},
		{"the first deploy creates version 1", exchange{method: "POST", path: flow + "/deployments", want: 201,
			body: `{"entrypoint": "flows/research.py:research_agent", "inputs": {"topic": "durable agents"}, ` + src + `}`}},
		{"a canary deploy creates version 2 with source metadata", exchange{method: "POST", path: flow + "/deployments", want: 201,
			body: `{"entrypoint": "flows/research.py:research_agent", "inputs": {"topic": "x"}, "tag": "canary", "exclusive": true,
			        "source": {"archive": "` + archive + `", "commit": "abc", "dirty": true}, "description": "candidate",
			        "input_schema": {"type": "object"}}`}},
		{"a nightly deploy on a shared tag creates version 3", exchange{method: "POST", path: flow + "/deployments", want: 201,
			body: `{"entrypoint": "flows/research.py:research_agent", "tag": "nightly", ` + src + `}`}},
		{"deploying to a stack that cannot execute remotely is unprocessable", exchange{method: "POST", path: flow + "/deployments", want: 422,
			body: `{"entrypoint": "flows/research.py:research_agent", "stack": "local", ` + src + `}`}},
		{"a deploy with an unknown field is refused", exchange{method: "POST", path: flow + "/deployments", want: 400, invalid: true,
			body: `{"entrypoint": "flows/research.py:research_agent", "tagg": "x"}`}},
		{"a deploy without entrypoint is refused", exchange{method: "POST", path: flow + "/deployments", want: 400, invalid: true,
			body: `{"inputs": {}}`}},
		{"flows are listed", exchange{method: "GET", path: "/v1/flows", want: 200}},
		{"the flow is summarised", exchange{method: "GET", path: flow, want: 200}},
		{"deployments are paged", exchange{method: "GET", path: flow + "/deployments", query: q("limit", "2"), want: 200}},
		{"a limit of 0 is refused", exchange{method: "GET", path: flow + "/deployments", query: q("limit", "0"), want: 400, invalid: true}},
		{"one deployment is shown", exchange{method: "GET", path: flow + "/deployments/2", want: 200}},
		{"version 0 is refused", exchange{method: "GET", path: flow + "/deployments/0", want: 400, invalid: true}},
		{"stable moves to version 2", exchange{method: "PUT", path: flow + "/tags/stable", want: 200, body: `{"version": 2, "exclusive": true}`}},
		{"a move with a stale If-Match fails its precondition", exchange{method: "PUT", path: flow + "/tags/stable", header: ifMatch("0"), want: 412,
			body: `{"version": 1, "exclusive": true}`}},
		{"a move with the current If-Match succeeds", exchange{method: "PUT", path: flow + "/tags/stable", header: ifMatch(`"1"`), want: 200,
			body: `{"version": 1, "exclusive": true}`}},
		{"a tag body without version is refused", exchange{method: "PUT", path: flow + "/tags/stable", want: 400, invalid: true, body: `{"exclusive": true}`}},
		{"a tag body over 1 MiB is too large", exchange{method: "PUT", path: flow + "/tags/stable", want: 413,
			body: `{"version": 1, "pad": "` + strings.Repeat("x", 1<<20) + `"}`, invalid: true}},
		{"a shared benchmark label goes on version 2", exchange{method: "PUT", path: flow + "/tags/benchmark", want: 200, body: `{"version": 2}`}},
		{"and on version 1", exchange{method: "PUT", path: flow + "/tags/benchmark", want: 200, body: `{"version": 1}`}},
		{"a shared tag cannot be made exclusive while it labels versions", exchange{method: "PUT", path: flow + "/tags/benchmark", want: 409,
			body: `{"version": 1, "exclusive": true}`}},
		{"stable rolls back to version 2", exchange{method: "POST", path: flow + "/tags/stable/rollback", want: 200}},
		{"a shared tag cannot be rolled back", exchange{method: "POST", path: flow + "/tags/benchmark/rollback", want: 409, body: `{}`}},
		{"stable's history lists its moves", exchange{method: "GET", path: flow + "/tags/stable/history", query: q("limit", "10"), want: 200}},
		{"stable is read with its revision", exchange{method: "GET", path: flow + "/tags/stable", want: 200}},
		{"a shared tag is read with every version it labels", exchange{method: "GET", path: flow + "/tags/benchmark", want: 200}},
		{"reading a tag that was never set is not found", exchange{method: "GET", path: flow + "/tags/prod", want: 404}},
		{"reading a tag with an invalid name is refused", exchange{method: "GET", path: flow + "/tags/-x", want: 400, invalid: true}},
		{"resolve without a selector picks default", exchange{method: "GET", path: flow + "/resolve", want: 200}},
		{"resolve by tag", exchange{method: "GET", path: flow + "/resolve", query: q("tag", "canary"), want: 200}},
		{"resolve by version", exchange{method: "GET", path: flow + "/resolve", query: q("version", "3"), want: 200}},
		{"resolving an ambiguous shared tag conflicts", exchange{method: "GET", path: flow + "/resolve", query: q("tag", "benchmark"), want: 409}},
		{"resolving a missing tag is not found", exchange{method: "GET", path: flow + "/resolve", query: q("tag", "prod"), want: 404}},
		{"default cannot be removed", exchange{method: "DELETE", path: flow + "/tags/default", query: q("version", "1"), want: 409}},
		{"removing a tag needs a version", exchange{method: "DELETE", path: flow + "/tags/benchmark", want: 400, invalid: true}},
		{"a shared tag is removed from a version", exchange{method: "DELETE", path: flow + "/tags/benchmark", query: q("version", "1"), want: 204}},
		{"a version holding an exclusive tag cannot be deleted", exchange{method: "DELETE", path: flow + "/deployments/1", want: 409}},
		{"a version holding only shared tags is deleted", exchange{method: "DELETE", path: flow + "/deployments/3", want: 204}},
		{"the deleted version is gone", exchange{method: "GET", path: flow + "/deployments/3", want: 404}},
		{"the shared tag's history records the deletion", exchange{method: "GET", path: flow + "/tags/nightly/history", want: 200}},
		{"a move sent with an Idempotency-Key runs", exchange{method: "PUT", path: flow + "/tags/stable", header: key("move-once"), want: 200,
			body: `{"version": 1, "exclusive": true}`}},
		{"its repeat is answered with the first answer", exchange{method: "PUT", path: flow + "/tags/stable", header: key("move-once"), want: 200,
			body: `{"version": 1, "exclusive": true}`}},
		{"the key reused for another move is an idempotency mismatch", exchange{method: "PUT", path: flow + "/tags/stable", header: key("move-once"), want: 422,
			body: `{"version": 2, "exclusive": true}`}},
		{"a keyed refusal is kept too", exchange{method: "DELETE", path: flow + "/deployments/1", header: key("delete-once"), want: 409}},
		{"waiting on an unknown execution is not found at once", exchange{method: "GET", path: "/v1/executions/ex_00000000000000000000000000", query: q("wait", "20s"), want: 404}},
		{"a wait that is not a duration is refused", exchange{method: "GET", path: "/v1/executions/ex_00000000000000000000000000", query: q("wait", "soon"), want: 400, invalid: true}},
		{"a wait without a unit is refused", exchange{method: "GET", path: "/v1/executions/ex_00000000000000000000000000", query: q("wait", "20"), want: 400, invalid: true}},
		{"a wait over 20 s is refused", exchange{method: "GET", path: "/v1/executions/ex_00000000000000000000000000", query: q("wait", "21s"), want: 400}},
		{"a key over 255 characters is refused", exchange{method: "POST", path: flow + "/tags/stable/rollback", header: key(strings.Repeat("k", 256)), want: 400, invalid: true}},
	}
	// Steps build on each other: they run in order, and stop at the first
	// unexpected status (later steps would only report its consequences).
	for _, s := range steps {
		var statusOK bool
		t.Run(s.name, func(t *testing.T) {
			statusOK = c.with(t).do(s.exchange)
		})
		if !statusOK {
			t.Fatalf("stopped after step %q: it did not get the status it needs; later steps depend on it", s.name)
		}
	}
}
