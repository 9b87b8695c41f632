package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sqlstore"
)

// checkedTransport is an http.RoundTripper that checks every exchange with
// the API against the document with kin-openapi's validator: the request
// before it is sent and the response (success or error envelope) as it
// comes back. It never fails a call itself; it records what did not match,
// so a walkthrough sees the real answers and reports every mismatch at the
// end. Requests to other hosts (the presigned artifact uploads) pass
// unchecked: the document does not describe them.
type checkedTransport struct {
	router routers.Router
	api    *url.URL
	next   http.RoundTripper

	mu         sync.Mutex
	mismatches []string
	// answered counts, per operation ("GET /v1/flows/{flow}"), the statuses seen.
	answered map[string]map[int]int
	checked  int
}

func newCheckedTransport(t *testing.T, doc *openapi3.T, apiURL string) *checkedTransport {
	t.Helper()
	u, err := url.Parse(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: apiURL}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("build router from %s: %v", documentPath, err)
	}
	return &checkedTransport{router: router, api: u, next: http.DefaultTransport, answered: map[string]map[int]int{}}
}

// invalidRequest marks a request's context: the walkthrough sends it on
// purpose, and the document must reject it as the server does.
type invalidRequest struct{}

func expectInvalid(ctx context.Context) context.Context {
	return context.WithValue(ctx, invalidRequest{}, true)
}

func (ct *checkedTransport) mismatch(format string, args ...any) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.mismatches = append(ct.mismatches, fmt.Sprintf(format, args...))
}

func (ct *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != ct.api.Host {
		return ct.next.RoundTrip(req)
	}
	ctx := req.Context()
	name := req.Method + " " + req.URL.Path

	// The validator reads the body; the server needs it too.
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	restore := func() {
		if req.Body != nil {
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
	}
	restore()

	route, params, err := ct.router.FindRoute(req)
	if err != nil {
		ct.mismatch("%s: no operation in %s: %v", name, documentPath, err)
		return ct.next.RoundTrip(req)
	}
	op := req.Method + " " + route.Path
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	opts.WithCustomSchemaErrorFunc(func(err *openapi3.SchemaError) string {
		return fmt.Sprintf("at /%s: %s", strings.Join(err.JSONPointer(), "/"), err.Reason)
	})
	input := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, input)
	restore()
	wantInvalid, _ := ctx.Value(invalidRequest{}).(bool)
	switch {
	case wantInvalid && reqErr == nil:
		ct.mismatch("%s: sent as an invalid request, but %s accepts it; tighten the document", name, documentPath)
	case !wantInvalid && reqErr != nil:
		ct.mismatch("%s: request does not match %s: %v", name, documentPath, reqErr)
	}

	resp, err := ct.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))

	if route.Operation.Responses.Status(resp.StatusCode) == nil {
		ct.mismatch("%s: answered %d, which %s does not list for %s", name, resp.StatusCode, documentPath, op)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: input, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(raw)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		ct.mismatch("%s: %d response does not match %s: %v\nbody: %s", name, resp.StatusCode, documentPath, err, clipBody(raw))
	}

	ct.mu.Lock()
	defer ct.mu.Unlock()
	ct.checked++
	if ct.answered[op] == nil {
		ct.answered[op] = map[int]int{}
	}
	ct.answered[op][resp.StatusCode]++
	return resp, nil
}

// report fails t for every mismatch and, when the walkthrough got to its
// end, for every operation of the document it never called and every
// status it never saw.
func (ct *checkedTransport) report(t *testing.T, doc *openapi3.T, statuses []int) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	for _, m := range ct.mismatches {
		t.Error(m)
	}
	complete := !t.Failed()
	seen := map[int]bool{}
	for _, byStatus := range ct.answered {
		for status := range byStatus {
			seen[status] = true
		}
	}
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			op := method + " " + path
			ops = append(ops, op)
			if complete && len(ct.answered[op]) == 0 {
				t.Errorf("the walkthrough never called %s: add a step that does", op)
			}
		}
	}
	for _, s := range statuses {
		if complete && !seen[s] {
			t.Errorf("the walkthrough never got a %d answer: add a step that does", s)
		}
	}
	slices.Sort(ops)
	t.Logf("%d exchanges checked against %s: %d operations, %d mismatches", ct.checked, documentPath, len(ops), len(ct.mismatches))
	for _, op := range ops {
		t.Logf("  %-55s %v", op, ct.answered[op])
	}
}

// walkthroughStatuses are the statuses the walkthrough must see, so that
// both the success bodies and the error envelope of each are checked.
var walkthroughStatuses = []int{200, 201, 202, 204, 400, 401, 403, 404, 409, 412, 422}

// TestWalkthroughThroughTheGoSDKMatchesTheDocument runs the docs'
// deployments walkthrough (scripts/e2e.sh's steps: deploy a default and a
// canary, invoke, promote, label, invoke through the SDK and a generated
// curl command, the failing and large flows, then the registry calls of the
// README) with the Go SDK against a real kitaru dev running real python3
// flows, every request and response checked against api/openapi.yaml.
func TestWalkthroughThroughTheGoSDKMatchesTheDocument(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real flows with python3")
	}
	doc := loadDocument(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	dataDir := t.TempDir()
	srv, err := devstack.Start(ctx, devstack.Config{Addr: "127.0.0.1:0", DataDir: dataDir})
	if err != nil {
		t.Fatalf("start kitaru dev: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close kitaru dev: %v", err)
		}
	})
	ct := newCheckedTransport(t, doc, srv.URL())
	t.Cleanup(func() { ct.report(t, doc, walkthroughStatuses) })

	hc := &http.Client{Transport: ct}
	sdk := func(token string) *client.Client {
		c, err := client.New(srv.URL(), client.WithHTTPClient(hc), client.WithAuthToken(token), client.WithProject(devstack.Project),
			client.WithRetryPolicy(client.RetryPolicy{MaxAttempts: 1}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	producer := sdk(srv.APIKey())
	deployments, executions := producer.Deployments(), producer.Executions()
	const flow = "research_agent"

	// step runs one step; a failed step stops the walkthrough, as e2e.sh does.
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.Fatalf("stopped after step %q", name)
		}
	}
	// wantCode checks an SDK call failed with the server's code.
	wantCode := func(t *testing.T, err error, code registry.Code) {
		t.Helper()
		if registry.CodeOf(err) != code {
			t.Fatalf("got error %v (code %q), want code %q", err, registry.CodeOf(err), code)
		}
	}
	project := copyProject(t, "research")
	target := filepath.Join(project, "flows", "research.py") + ":" + flow
	var v1, v2 int

	step("check the connection", func(t *testing.T) {
		st, err := producer.Status(ctx)
		if err != nil || st.Role != registry.RoleProducer {
			t.Fatalf("status = %+v, %v; want the producer key", st, err)
		}
		raw := rawCall(t, hc, srv, "GET", "/v1/stacks", "", nil)
		if !strings.Contains(raw, `"dev"`) {
			t.Fatalf("stacks = %s, want dev", raw)
		}
	})
	step("deploy the first version, which gets default", func(t *testing.T) {
		d, err := deployments.DeployDir(ctx, "", target, client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "durable agents"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if v1 = d.Version; !d.Tags["default"] {
			t.Fatalf("version %d has tags %v, want default", v1, d.Tags)
		}
	})
	step("deploy a canary candidate on an exclusive tag", func(t *testing.T) {
		d, err := deployments.DeployDir(ctx, "", target, client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "durable agents"}`), Tag: "canary", Exclusive: true})
		if err != nil {
			t.Fatal(err)
		}
		if v2 = d.Version; v2 <= v1 || !d.Tags["canary"] {
			t.Fatalf("canary is version %d with tags %v; want after %d with canary", v2, d.Tags, v1)
		}
	})
	step("invoke the canary and wait for the result", func(t *testing.T) {
		wantResult(ctx, t, deployments, client.InvokeOptions{Selector: client.Selector{Tag: "canary"}, Inputs: map[string]any{"topic": "canary check"}},
			v2, `"research notes on canary check"`)
	})
	step("list the versions, newest first", func(t *testing.T) {
		page, err := deployments.List(ctx, flow, client.ListOptions{Limit: 1})
		if err != nil || len(page.Items) != 1 || page.Items[0].Version != v2 || page.NextToken == "" {
			t.Fatalf("first page = %+v, %v; want version %d and a next page", page, err, v2)
		}
		if _, err := deployments.List(ctx, flow, client.ListOptions{Limit: 1, NextToken: page.NextToken}); err != nil {
			t.Fatal(err)
		}
	})
	var stable registry.Tag
	step("promote the canary to stable and label it benchmark", func(t *testing.T) {
		if stable, err = deployments.Tag(ctx, flow, "stable", v2, client.TagOptions{Exclusive: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := deployments.Tag(ctx, flow, "benchmark", v2, client.TagOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	step("invoke stable with the SDK", func(t *testing.T) {
		wantResult(ctx, t, deployments, client.InvokeOptions{Selector: client.Selector{Tag: "stable"}, Inputs: map[string]any{"topic": "deployment routing"}},
			v2, `"research notes on deployment routing"`)
	})
	step("the generated curl command's request starts the pinned version", func(t *testing.T) {
		cmd, err := deployments.Curl(ctx, flow, client.CurlOptions{Selector: client.Selector{Tag: "stable"}, Inputs: json.RawMessage(`{"topic": "curl"}`)})
		if err != nil || !cmd.Pinned || cmd.ResolvedVersion != v2 {
			t.Fatalf("curl = %+v, %v; want pinned to %d", cmd, err, v2)
		}
		// What the command's $(kitaru auth token) prints: a short-lived token.
		token, err := producer.CreateToken(ctx, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		raw := rawCall(t, hc, srv, "POST", strings.TrimPrefix(cmd.URL, srv.URL()), cmd.Body, http.Header{"Authorization": {"Bearer " + token.Token}})
		var started registry.Execution
		if err := json.Unmarshal([]byte(raw), &started); err != nil || started.Version != v2 {
			t.Fatalf("curl started %s (%v), want version %d", raw, err, v2)
		}
		e, err := executions.Wait(ctx, started.ExecID)
		if err != nil || string(e.Result) != `"research notes on curl"` {
			t.Fatalf("the curl-started execution ended %+v, %v", e, err)
		}
	})
	step("invoke one version directly, whatever the tags say", func(t *testing.T) {
		d, err := deployments.Get(ctx, flow, v1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := d.Invoke(ctx, client.InvokeOptions{Inputs: map[string]any{"topic": "pinned"}})
		if err != nil {
			t.Fatal(err)
		}
		if e, err := h.Wait(ctx); err != nil || e.Version != v1 {
			t.Fatalf("pinned run = %+v, %v; want version %d", e, err, v1)
		}
	})

	behaviours := filepath.Join(copyProject(t, "behaviours"), "flows", "behaviours.py")
	deployBehaviour := func(t *testing.T, name string) {
		t.Helper()
		if _, err := deployments.DeployDir(ctx, "", behaviours+":"+name, client.DeployDirOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	step("a flow that raises fails with its exception", func(t *testing.T) {
		deployBehaviour(t, "fails")
		h, err := deployments.Invoke(ctx, "fails", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Wait(ctx)
		var ee *client.ExecutionError
		if !errors.As(err, &ee) || ee.Type != "ValueError" || !strings.Contains(ee.Traceback, "in fails") {
			t.Fatalf("wait = %v, want a ValueError with the flow's traceback", err)
		}
	})
	step("a runner that dies mid-run fails as Runner.Crashed", func(t *testing.T) {
		deployBehaviour(t, "crashes")
		h, err := deployments.Invoke(ctx, "crashes", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = h.Wait(ctx)
		if ee := (*client.ExecutionError)(nil); !errors.As(err, &ee) || ee.Type != "Runner.Crashed" {
			t.Fatalf("wait = %v, want Runner.Crashed", err)
		}
	})
	step("a result over 256 KiB is stored and named by result_ref", func(t *testing.T) {
		deployBehaviour(t, "large")
		h, err := deployments.Invoke(ctx, "large", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if e, err := h.Wait(ctx); err != nil || e.ResultRef == "" {
			t.Fatalf("large = status %s, result_ref %q, %v", e.Status, e.ResultRef, err)
		}
	})
	step("a running execution is cancelled, then listed", func(t *testing.T) {
		deployBehaviour(t, "sleeps")
		h, err := deployments.Invoke(ctx, "sleeps", client.InvokeOptions{Inputs: map[string]any{"seconds": 60}})
		if err != nil {
			t.Fatal(err)
		}
		if e, err := executions.Cancel(ctx, h.ExecID); err != nil || e.Status != registry.StatusCancelled {
			t.Fatalf("cancel = %+v, %v", e, err)
		}
		if _, err := executions.Cancel(ctx, h.ExecID); err != nil {
			t.Fatalf("cancelling again answers the cancelled execution: %v", err)
		}
		page, err := executions.List(ctx, "sleeps", client.ListOptions{})
		if err != nil || len(page.Items) != 1 || page.Items[0].ExecID != h.ExecID {
			t.Fatalf("executions = %+v, %v", page, err)
		}
		if _, err := executions.Get(ctx, h.ExecID); err != nil {
			t.Fatal(err)
		}
	})

	// The README's "The registry with curl" calls, and their refusals.
	step("a move with a stale revision fails its precondition; the current one moves", func(t *testing.T) {
		stale := stable.Revision - 1
		_, err := deployments.Tag(ctx, flow, "stable", v1, client.TagOptions{Exclusive: true, IfRevision: &stale})
		wantCode(t, err, registry.CodePreconditionFailed)
		if _, err := deployments.Tag(ctx, flow, "stable", v1, client.TagOptions{Exclusive: true, IfRevision: &stable.Revision}); err != nil {
			t.Fatal(err)
		}
	})
	step("rollback returns stable to the canary; history lists both moves", func(t *testing.T) {
		tag, err := deployments.Rollback(ctx, flow, "stable")
		if err != nil || !slices.Equal(tag.Versions, []int{v2}) {
			t.Fatalf("rollback = %+v, %v; want version %d", tag, err, v2)
		}
		page, err := deployments.History(ctx, flow, "stable", client.ListOptions{Limit: 10})
		if err != nil || len(page.Items) < 3 {
			t.Fatalf("history = %+v, %v; want three changes", page, err)
		}
		if _, err := deployments.GetTag(ctx, flow, "stable"); err != nil {
			t.Fatal(err)
		}
	})
	step("resolve by tag, version and default; an ambiguous shared tag conflicts", func(t *testing.T) {
		for _, sel := range []client.Selector{{Tag: "stable"}, {Version: v1}, {}} {
			if _, err := deployments.Resolve(ctx, flow, sel); err != nil {
				t.Fatalf("resolve %+v: %v", sel, err)
			}
		}
		if _, err := deployments.Tag(ctx, flow, "benchmark", v1, client.TagOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := deployments.Resolve(ctx, flow, client.Selector{Tag: "benchmark"})
		wantCode(t, err, registry.CodeConflict)
		if err := deployments.Untag(ctx, flow, "benchmark", v1); err != nil {
			t.Fatal(err)
		}
	})
	step("split live 90/10 over two versions; a sticky key resolves and runs one of them; a move collapses it", func(t *testing.T) {
		split := registry.Split{v1: 90, v2: 10}
		tag, err := deployments.Split(ctx, flow, "live", split, client.TagOptions{})
		if err != nil || !tag.Split.Equal(split) {
			t.Fatalf("split = %+v, %v; want %v", tag, err, split)
		}
		sel := client.Selector{Tag: "live", StickyKey: "user-42"}
		d, err := deployments.Resolve(ctx, flow, sel)
		if err != nil || (d.Version != v1 && d.Version != v2) {
			t.Fatalf("resolve %+v = v%d, %v", sel, d.Version, err)
		}
		wantResult(ctx, t, deployments, client.InvokeOptions{Selector: sel, Inputs: map[string]any{"topic": "split"}},
			d.Version, `"research notes on split"`)
		_, err = deployments.Split(ctx, flow, "live", registry.Split{v1: 90, v2: 20}, client.TagOptions{})
		wantCode(t, err, registry.CodeInvalidArgument)
		if tag, err = deployments.Tag(ctx, flow, "live", v2, client.TagOptions{Exclusive: true}); err != nil || tag.Split != nil {
			t.Fatalf("move = %+v, %v; want the split collapsed", tag, err)
		}
		if err := deployments.Untag(ctx, flow, "live", v2); err != nil {
			t.Fatal(err)
		}
	})
	step("a version holding an exclusive tag is not deleted; one holding none is, and is gone", func(t *testing.T) {
		wantCode(t, deployments.Delete(ctx, flow, v2), registry.CodeConflict)
		d, err := deployments.DeployDir(ctx, "", target, client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "x"}`), Tag: "nightly"})
		if err != nil {
			t.Fatal(err)
		}
		if err := deployments.Delete(ctx, flow, d.Version); err != nil {
			t.Fatal(err)
		}
		_, err = deployments.Get(ctx, flow, d.Version)
		wantCode(t, err, registry.CodeNotFound)
	})
	step("flows are listed and summarised", func(t *testing.T) {
		page, err := producer.Flows(ctx, client.ListOptions{})
		if err != nil || len(page.Items) != 5 {
			t.Fatalf("flows = %+v, %v; want research_agent and four behaviours", page, err)
		}
		if _, err := producer.Flow(ctx, flow); err != nil {
			t.Fatal(err)
		}
		_, err = producer.Flow(ctx, "never_deployed")
		wantCode(t, err, registry.CodeNotFound)
	})
	step("an artifact is registered before its upload", func(t *testing.T) {
		a, err := producer.CreateArtifact(ctx, "sha256:"+strings.Repeat("ab", 32), 1024)
		if err != nil || a.Upload == nil {
			t.Fatalf("artifact = %+v, %v; want an upload to make", a, err)
		}
	})
	step("an Idempotency-Key reused with other inputs is a mismatch", func(t *testing.T) {
		opts := client.InvokeOptions{Selector: client.Selector{Tag: "stable"}, Inputs: map[string]any{"topic": "a"}, IdempotencyKey: client.NewIdempotencyKey()}
		if _, err := deployments.Invoke(ctx, flow, opts); err != nil {
			t.Fatal(err)
		}
		opts.Inputs = map[string]any{"topic": "b"}
		_, err := deployments.Invoke(ctx, flow, opts)
		wantCode(t, err, registry.CodeIdempotencyMismatch)
	})
	step("a flow with routes besides default is deleted only with force; a re-deploy continues its numbers", func(t *testing.T) {
		const doomed = "doomed_flow"
		src := "from kitaru import flow\n\n\n@flow\ndef doomed_flow(topic: str) -> str:\n    return topic\n"
		if err := os.WriteFile(filepath.Join(project, "flows", "doomed.py"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		var last int
		for _, tag := range []string{"", "stable"} {
			d, err := deployments.DeployDir(ctx, "", filepath.Join(project, "flows", "doomed.py")+":"+doomed, client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "x"}`), Tag: tag, Exclusive: tag != ""})
			if err != nil {
				t.Fatal(err)
			}
			last = d.Version
		}
		_, err := producer.DeleteFlow(ctx, doomed, client.DeleteFlowOptions{})
		wantCode(t, err, registry.CodeConflict)
		del, err := producer.DeleteFlow(ctx, doomed, client.DeleteFlowOptions{Force: true})
		if err != nil || del.NextVersion != last+1 || !slices.Equal(del.Tags["stable"], []int{last}) {
			t.Fatalf("delete = %+v, %v", del, err)
		}
		_, err = producer.Flow(ctx, doomed)
		wantCode(t, err, registry.CodeNotFound)
		d, err := deployments.DeployDir(ctx, "", filepath.Join(project, "flows", "doomed.py")+":"+doomed, client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "x"}`)})
		if err != nil || d.Version != del.NextVersion || !d.Tags["default"] {
			t.Fatalf("re-deploy = v%d %v, %v; want v%d with default", d.Version, d.Tags, err, del.NextVersion)
		}
		if _, err := producer.DeleteFlow(ctx, doomed, client.DeleteFlowOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	step("a prune deletes the versions no tag routes to and the bundles only they used", func(t *testing.T) {
		const pruned = "pruned_flow"
		file := filepath.Join(project, "flows", "pruned.py")
		var first client.Deployment
		for i := range 3 {
			src := fmt.Sprintf("from kitaru import flow\n\n\n@flow\ndef pruned_flow(topic: str) -> str:\n    return topic * %d\n", i+1)
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			d, err := deployments.DeployDir(ctx, "", file+":"+pruned, client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "x"}`)})
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = d
			}
		}
		_, err := producer.Prune(ctx, "never_deployed", client.PruneOptions{Keep: 1})
		wantCode(t, err, registry.CodeNotFound)
		plan, err := producer.Prune(ctx, pruned, client.PruneOptions{Keep: 2, DryRun: true})
		if err != nil || !plan.DryRun || len(plan.Deleted) != 1 || plan.Deleted[0].Version != first.Version {
			t.Fatalf("dry run = %+v, %v", plan, err)
		}
		got, err := producer.Prune(ctx, pruned, client.PruneOptions{Keep: 2, OlderThan: time.Millisecond})
		if err != nil || len(got.Deleted) != 1 || len(got.Bundles) != 1 || !got.Bundles[0].Deleted || got.Bundles[0].Digest != first.Source.Digest {
			t.Fatalf("prune = %+v, %v", got, err)
		}
		_, err = deployments.Get(ctx, pruned, first.Version)
		wantCode(t, err, registry.CodeNotFound)
	})
	step("executions are listed by route: tag, version, status and since", func(t *testing.T) {
		page, err := executions.ListBy(ctx, flow, client.ExecutionListOptions{Tag: "stable", Status: registry.StatusCompleted, SinceAgo: time.Hour})
		if err != nil || len(page.Items) == 0 {
			t.Fatalf("stable executions = %+v, %v", page, err)
		}
		for _, e := range page.Items {
			if e.Selector.Tag != "stable" || e.Status != registry.StatusCompleted {
				t.Errorf("listed %+v", e)
			}
		}
		page, err = executions.ListBy(ctx, flow, client.ExecutionListOptions{Version: v1, ListOptions: client.ListOptions{Limit: 1}})
		if err != nil || len(page.Items) != 1 || page.Items[0].Version != v1 {
			t.Fatalf("executions of v%d = %+v, %v", v1, page, err)
		}
		rawStatus(t, hc, expectInvalid(ctx), srv, "GET", "/v1/flows/"+flow+"/executions?status=done", "", http.StatusBadRequest)
	})
	step("flow stats show each version on the route with its outcomes", func(t *testing.T) {
		st, err := producer.FlowStats(ctx, flow, client.FlowStatsOptions{Tag: "stable", SinceAgo: time.Hour})
		if err != nil || len(st.Versions) == 0 || st.Sampled {
			t.Fatalf("stats of stable = %+v, %v", st, err)
		}
		if row := st.Versions[0]; !slices.Equal(row.Tags, []string{"stable"}) || row.Completed == 0 || row.P50Seconds == nil {
			t.Fatalf("first row = %+v; want stable's version with a completed execution and a median", row)
		}
		all, err := producer.FlowStats(ctx, flow, client.FlowStatsOptions{})
		if err != nil || len(all.Versions) < len(st.Versions) {
			t.Fatalf("stats of the route = %+v, %v", all, err)
		}
		_, err = producer.FlowStats(ctx, flow, client.FlowStatsOptions{Since: time.Now().Add(-31 * 24 * time.Hour)})
		wantCode(t, err, registry.CodeInvalidArgument)
		_, err = producer.FlowStats(ctx, "no_such_flow", client.FlowStatsOptions{})
		wantCode(t, err, registry.CodeNotFound)
	})
	step("an execution's log is followed to its end, a partial last line kept", func(t *testing.T) {
		deployBehaviour(t, "breaks_mid_line")
		h, err := deployments.Invoke(ctx, "breaks_mid_line", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var log strings.Builder
		status, err := h.FollowLogs(ctx, &log)
		if err != nil || status != registry.StatusFailed {
			t.Fatalf("follow = %s, %v; want failed", status, err)
		}
		if !strings.Contains(log.String(), "a whole first line\na partial last line") || !strings.Contains(log.String(), "RuntimeError") {
			t.Fatalf("log = %q", log.String())
		}
		page, err := h.Logs(ctx, "")
		if err != nil || !page.Ended || page.Data != log.String() {
			t.Fatalf("one read = %+v, %v; want the whole log, ended", page, err)
		}
		_, err = executions.Logs(ctx, h.ExecID, "-1")
		wantCode(t, err, registry.CodeInvalidArgument)
	})
	step("a build saves a version no tag routes to; a build naming a tag is refused", func(t *testing.T) {
		before, err := deployments.Resolve(ctx, flow, client.Selector{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := deployments.BuildDir(ctx, "", target, client.DeployDirOptions{Inputs: json.RawMessage(`{"topic": "staged"}`)})
		if err != nil || len(b.Tags) != 0 {
			t.Fatalf("build = %+v, %v; want a version with no tag", b.Deployment, err)
		}
		after, err := deployments.Resolve(ctx, flow, client.Selector{})
		if err != nil || after.Version != before.Version {
			t.Fatalf("default after the build = v%d, %v; want v%d", after.Version, err, before.Version)
		}
		body := `{"entrypoint": "flows/research.py:` + flow + `", "source": {"digest": "` + b.Source.Digest + `"}, "build": true, "tag": "canary"}`
		if got := rawStatusWith(t, hc, ctx, srv, "POST", "/v1/flows/"+flow+"/deployments", body, nil, http.StatusBadRequest); !strings.Contains(got, "leave tag out") {
			t.Errorf("answer %s; want the build's refusal of tag", got)
		}
	})
	step("two versions are diffed: inputs and files compared, a tag resolved now, an unknown one 404", func(t *testing.T) {
		// The newest version is the build above, made after doomed.py joined the project.
		page, err := deployments.List(ctx, flow, client.ListOptions{Limit: 1})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("newest version = %+v, %v", page, err)
		}
		diff, err := deployments.Diff(ctx, flow, strconv.Itoa(v1), strconv.Itoa(page.Items[0].Version), client.DiffOptions{})
		if err != nil || len(diff.Inputs) != 1 || diff.Inputs[0].Key != "topic" {
			t.Fatalf("diff = %+v, %v; want topic changed", diff, err)
		}
		// Other steps add files to the project too: doomed.py must be among them.
		added := false
		for _, f := range diff.Source.Files {
			added = added || f.Path == "flows/doomed.py" && f.Change == "added" && strings.Contains(f.Diff, "+def doomed_flow")
		}
		if !added {
			t.Fatalf("diff files = %+v; want flows/doomed.py added", diff.Source.Files)
		}
		if same, err := deployments.Diff(ctx, flow, "stable", strconv.Itoa(v2), client.DiffOptions{}); err != nil || !same.Identical || same.From.Version != v2 {
			t.Fatalf("stable against v%d = %+v, %v; want identical", v2, same, err)
		}
		_, err = deployments.Diff(ctx, flow, "stable", "no_such_tag", client.DiffOptions{})
		wantCode(t, err, registry.CodeNotFound)
	})
	step("a flow secret is set, listed by name, reaches a deploy that declares it, and a missing one is a 422", func(t *testing.T) {
		const value = "sk-walkthrough-3b1f"
		if _, err := producer.SetSecret(ctx, "OPENAI_API_KEY", value); err != nil {
			t.Fatal(err)
		}
		list, err := producer.Secrets(ctx)
		if err != nil || len(list) != 1 || list[0].Name != "OPENAI_API_KEY" {
			t.Fatalf("secrets = %+v, %v; want OPENAI_API_KEY", list, err)
		}
		secretsTarget := filepath.Join(copyProject(t, "secrets"), "flows", "secrets.py") + ":environment"
		d, err := deployments.DeployDir(ctx, "", secretsTarget, client.DeployDirOptions{Secrets: []string{"OPENAI_API_KEY"}})
		if err != nil || len(d.Secrets) != 1 {
			t.Fatalf("deploy = %+v, %v; want it to declare OPENAI_API_KEY", d.Secrets, err)
		}
		h, err := deployments.Invoke(ctx, "environment", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := h.Wait(ctx)
		sum := sha256.Sum256([]byte(value))
		if err != nil || !strings.Contains(string(e.Result), hex.EncodeToString(sum[:])) {
			t.Fatalf("execution = %s, %v; want the digest of the secret's value", e.Result, err)
		}
		if err := producer.DeleteSecret(ctx, "OPENAI_API_KEY"); err != nil {
			t.Fatal(err)
		}
		_, err = deployments.Invoke(ctx, "environment", client.InvokeOptions{})
		wantCode(t, err, registry.CodeUnprocessable)
		wantCode(t, producer.DeleteSecret(ctx, "OPENAI_API_KEY"), registry.CodeNotFound)
	})
	step("a request the document rejects is refused by the server too", func(t *testing.T) {
		rawStatus(t, hc, expectInvalid(ctx), srv, "GET", "/v1/flows/"+flow+"/deployments?limit=0", "", http.StatusBadRequest)
	})
	step("a garbage credential is unauthenticated", func(t *testing.T) {
		_, err := sdk("kat_not-a-key").Status(ctx)
		wantCode(t, err, registry.CodeUnauthenticated)
	})
	step("a consumer may invoke but not deploy", func(t *testing.T) {
		consumer := sdk(consumerKey(ctx, t, dataDir))
		if _, err := consumer.Deployments().Resolve(ctx, flow, client.Selector{Tag: "stable"}); err != nil {
			t.Fatal(err)
		}
		_, err := consumer.Deployments().Tag(ctx, flow, "stable", v1, client.TagOptions{Exclusive: true})
		wantCode(t, err, registry.CodePermissionDenied)
		_, err = consumer.DeleteFlow(ctx, flow, client.DeleteFlowOptions{Force: true})
		wantCode(t, err, registry.CodePermissionDenied)
	})
}

// wantResult invokes opts on research_agent, waits, and checks the version
// that ran and its result.
func wantResult(ctx context.Context, t *testing.T, d *client.Deployments, opts client.InvokeOptions, version int, result string) {
	t.Helper()
	h, err := d.Invoke(ctx, "research_agent", opts)
	if err != nil {
		t.Fatal(err)
	}
	e, err := h.Wait(ctx)
	if err != nil || e.Version != version || string(e.Result) != result {
		t.Fatalf("execution = version %d, result %s, %v; want version %d, result %s", e.Version, e.Result, err, version, result)
	}
}

// copyProject copies testdata/flows/NAME (a kitaru project) to a temporary
// directory, as e2e.sh does, and returns the copy.
func copyProject(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("..", "testdata", "flows", name))); err != nil {
		t.Fatalf("copy testdata/flows/%s: %v", name, err)
	}
	return dst
}

// rawCall sends a request the SDK has no method for (or a generated
// command's) through the checked client with the dev key unless header
// sets Authorization, and returns the 2xx body.
func rawCall(t *testing.T, hc *http.Client, srv *devstack.Server, method, path, body string, header http.Header) string {
	t.Helper()
	return rawStatusWith(t, hc, context.Background(), srv, method, path, body, header, 0)
}

// rawStatus sends a request and checks its status.
func rawStatus(t *testing.T, hc *http.Client, ctx context.Context, srv *devstack.Server, method, path, body string, want int) {
	t.Helper()
	rawStatusWith(t, hc, ctx, srv, method, path, body, nil, want)
}

// rawStatusWith sends one request; want 0 accepts any 2xx.
func rawStatusWith(t *testing.T, hc *http.Client, ctx context.Context, srv *devstack.Server, method, path, body string, header http.Header, want int) string {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+srv.APIKey())
	req.Header.Set("X-Kitaru-Project", devstack.Project)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if (want == 0 && resp.StatusCode/100 != 2) || (want != 0 && resp.StatusCode != want) {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, clipBody(raw))
	}
	return string(raw)
}

// consumerKey registers a consumer key of the dev project in the dev
// server's registry, as `kitaru admin keys create --role consumer` does.
func consumerKey(ctx context.Context, t *testing.T, dataDir string) string {
	t.Helper()
	store, err := sqlstore.Open(filepath.Join(dataDir, devstack.RegistryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key, plain, err := auth.NewKey([]string{devstack.Project}, registry.RoleConsumer, "walkthrough consumer", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	return plain
}

// TestCheckedTransportReportsMismatches proves the walkthrough's checker can
// fail: a server that answers off the document, and a request off it, are
// both reported.
func TestCheckedTransportReportsMismatches(t *testing.T) {
	offContract := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/status":
			io.WriteString(w, `{"server_version": 1}`) // wrong type, required fields missing
		default:
			w.WriteHeader(http.StatusTeapot)
			io.WriteString(w, `{"error": {"code": "teapot"}}`)
		}
	}))
	defer offContract.Close()
	tests := []struct {
		name, method, path, body string
		ctx                      context.Context
		want                     string
	}{
		{"a response body off the schema", "GET", "/v1/status", "", context.Background(), "response does not match"},
		{"a status the operation does not list", "GET", "/v1/flows/research_agent", "", context.Background(), "which " + documentPath + " does not list"},
		{"a request body off the schema", "PUT", "/v1/flows/research_agent/tags/stable", `{"exclusive": "yes"}`, context.Background(), "request does not match"},
		{"an invalid request the document accepts", "GET", "/v1/flows/research_agent", "", expectInvalid(context.Background()), "tighten the document"},
		{"a route the document does not have", "GET", "/v2/nothing", "", context.Background(), "no operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := newCheckedTransport(t, loadDocument(t), offContract.URL)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(tt.ctx, tt.method, offContract.URL+tt.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer x")
			req.Header.Set("Content-Type", "application/json")
			resp, err := (&http.Client{Transport: ct}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !slices.ContainsFunc(ct.mismatches, func(m string) bool { return strings.Contains(m, tt.want) }) {
				t.Errorf("mismatches = %q, want one containing %q", ct.mismatches, tt.want)
			}
		})
	}
}
