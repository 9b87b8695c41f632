package capmodel_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/ddbcost"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/localdynamo"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

var update = flag.Bool("update", false, "rewrite docs/scale-routes.md from this run")

const (
	golden  = "../../docs/scale-routes.md"
	project = "cap"
)

var ctx = context.Background()

// calls counts the invoke path's AWS calls other than DynamoDB, by name.
type calls struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *calls) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
}

func (c *calls) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	return n
}

// fakeStepFunctions stands in for Step Functions, which nothing here can
// run; it counts the API calls the invoke path makes.
type fakeStepFunctions struct{ calls *calls }

func (f fakeStepFunctions) Start(context.Context, workflow.RunRequest) error {
	f.calls.add("StartExecution")
	return nil
}

func (f fakeStepFunctions) Stop(context.Context, string, string) error {
	f.calls.add("StopExecution")
	return nil
}

// countingObjects is the real artifact store, its S3 calls and presigns
// counted.
type countingObjects struct {
	*artifacts.Store
	calls *calls
}

func (o countingObjects) BundleURL(ctx context.Context, project, digest string, ttl time.Duration) (string, error) {
	o.calls.add("presign")
	return o.Store.BundleURL(ctx, project, digest, ttl)
}

func (o countingObjects) ResultUpload(ctx context.Context, project, execID string, ttl time.Duration) (workflow.URLRef, error) {
	o.calls.add("presign")
	return o.Store.ResultUpload(ctx, project, execID, ttl)
}

func (o countingObjects) LogUpload(ctx context.Context, project, execID string, ttl time.Duration) (workflow.LogUpload, error) {
	up, err := o.Store.LogUpload(ctx, project, execID, ttl)
	for range up.URLs {
		o.calls.add("presign")
	}
	return up, err
}

func (o countingObjects) PutRunObject(ctx context.Context, project, execID string, obj workflow.RunObject, ttl time.Duration) (workflow.URLRef, error) {
	o.calls.add("S3 PutObject")
	o.calls.add("presign")
	return o.Store.PutRunObject(ctx, project, execID, obj, ttl)
}

func (o countingObjects) DeleteRunObject(ctx context.Context, project, execID string) error {
	o.calls.add("S3 DeleteObject")
	return o.Store.DeleteRunObject(ctx, project, execID)
}

// pinnedLease is the store's bundle guard with the lease's end pinned: a
// deploy leases its bundle until the request's real deadline, and the
// number's size varies by a byte with its trailing zeros.
type pinnedLease struct {
	*dynamo.Store
	until time.Time
}

func (p pinnedLease) LeaseBundle(ctx context.Context, project, digest string, _ time.Time) error {
	return p.Store.LeaseBundle(ctx, project, digest, p.until)
}

// bench is a handler serving every route over a fresh table, with the
// recorder on its DynamoDB client.
type bench struct {
	rec   *ddbcost.Recorder
	calls *calls
	store *dynamo.Store
	h     *httpapi.Handler
}

func newBench(t *testing.T, endpoint string, blobs *artifacts.Store) *bench {
	rec := &ddbcost.Recorder{}
	db, err := defaultconfig.NewClient(ctx, endpoint, rec.Option())
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("capmodel-%d", time.Now().UnixNano())
	if err := dynamo.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table}) })
	now := time.Date(2026, 12, 1, 9, 30, 0, 500_000_000, time.UTC)
	clock := func() time.Time { return now }
	store := dynamo.New(db, table, dynamo.WithClock(clock))
	c := &calls{}
	objects := countingObjects{Store: blobs, calls: c}
	var seq int
	var mu sync.Mutex
	stacks := registry.Stacks{All: []registry.Stack{{Name: "dev", RemoteExecutable: true}}, Default: "dev"}
	svc := &invoke.Service{Registry: store, Execs: store, Executor: fakeStepFunctions{calls: c}, Objects: objects, RunObjects: objects,
		Stacks: stacks, Now: clock, NewID: func() string {
			mu.Lock()
			defer mu.Unlock()
			seq++
			return fmt.Sprintf("ex_01jcap%020d", seq)
		}}
	h := httpapi.New(store, httpapi.Config{Stacks: stacks, Artifacts: blobs, Bundles: blobs, Invoker: svc, Executions: store, Now: clock,
		BundleGuard: pinnedLease{Store: store, until: now.Add(time.Minute)}})
	return &bench{rec: rec, calls: c, store: store, h: h}
}

// do sends one request and fails unless it answers want.
func (b *bench) do(t *testing.T, method, target, body string, want int) string {
	t.Helper()
	path, query, _ := strings.Cut(target, "?")
	ev := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, Body: body,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "cap", Stage: "test", HTTPMethod: method, Path: path,
			Authorizer: map[string]any{"project": project, "role": "producer", "principal_id": "cap", "credential": "api_key"}}}
	if query != "" {
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string{}
		for kv := range strings.SplitSeq(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			ev.QueryStringParameters[k], ev.MultiValueQueryStringParameters[k] = v, []string{v}
		}
	}
	resp, err := b.h.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, target, resp.StatusCode, want, resp.Body)
	}
	return resp.Body
}

// flowKind is a flow shape the table measures.
type flowKind struct {
	name   string
	tags   int // live exclusive tags besides default
	inputs int // bytes of invocation inputs
	result int // bytes of the execution's result
}

var kinds = []flowKind{
	{name: "typical", tags: 3, inputs: 100, result: 1000},
	{name: "large", tags: 50, inputs: 10 * 1024, result: 300 * 1024},
}

// jsonOf is a JSON object of about n bytes.
func jsonOf(n int) string { return fmt.Sprintf(`{"text": %q}`, strings.Repeat("x", max(0, n-12))) }

// measured is one route's cost.
type measured struct {
	route string
	calls []ddbcost.Call
	other map[string]int
}

// measure drives every route for one kind of flow and returns what each cost.
func measure(t *testing.T, b *bench, k flowKind, archive string) []measured {
	flow := k.name
	deploy := func(tag string) int {
		body := fmt.Sprintf(`{"entrypoint": "flows/research.py:research_agent", "inputs": %s, "source": {"archive": %q}`, jsonOf(k.inputs), archive)
		if tag != "" {
			body += fmt.Sprintf(`, "tag": %q, "exclusive": true`, tag)
		} else {
			body += `, "build": true`
		}
		var d struct{ Version int }
		if err := json.Unmarshal([]byte(b.do(t, "POST", "/v1/flows/"+flow+"/deployments", body+"}", 201)), &d); err != nil {
			t.Fatal(err)
		}
		return d.Version
	}
	// The flow's shape: versions and live tags, unmeasured.
	for i := range k.tags {
		deploy(fmt.Sprintf("t%02d", i))
	}
	live, untagged := deploy("live"), deploy("")
	b.rec.Take()
	b.calls.take()

	var out []measured
	step := func(route string, fn func()) {
		fn()
		calls := b.rec.Take()
		// A route may send requests at once: list them in a stable order.
		slices.SortStableFunc(calls, func(a, b ddbcost.Call) int { return strings.Compare(callOrder(a), callOrder(b)) })
		out = append(out, measured{route: route, calls: calls, other: b.calls.take()})
	}
	var execID string
	var canary int
	step("POST /v1/flows/{flow}/deployments (with a tag)", func() { canary = deploy("canary") })
	step("PUT /v1/flows/{flow}/tags/{tag} (move)", func() {
		b.do(t, "PUT", "/v1/flows/"+flow+"/tags/live", fmt.Sprintf(`{"version": %d, "exclusive": true}`, canary), 200)
	})
	step("PUT /v1/flows/{flow}/tags/{tag} (split)", func() {
		b.do(t, "PUT", "/v1/flows/"+flow+"/tags/live", fmt.Sprintf(`{"split": {"%d": 90, "%d": 10}}`, live, canary), 200)
	})
	step("GET /v1/flows/{flow}/tags/{tag}", func() { b.do(t, "GET", "/v1/flows/"+flow+"/tags/live", "", 200) })
	step("GET /v1/flows/{flow}/resolve?tag=", func() { b.do(t, "GET", "/v1/flows/"+flow+"/resolve?tag=live", "", 200) })
	step("GET /v1/flows/{flow}/resolve?version=", func() { b.do(t, "GET", "/v1/flows/"+flow+"/resolve?version=1", "", 200) })
	step("POST /v1/flows/{flow}/invocations (by tag)", func() {
		body := b.do(t, "POST", "/v1/flows/"+flow+"/invocations", `{"tag": "t00", "inputs": `+jsonOf(k.inputs)+`}`, 202)
		var ex struct {
			ExecID string `json:"exec_id"`
		}
		if err := json.Unmarshal([]byte(body), &ex); err != nil || ex.ExecID == "" {
			t.Fatalf("invoke answered %s (%v)", body, err)
		}
		execID = ex.ExecID
	})
	step("POST /v1/flows/{flow}/versions/{version}/invocations", func() {
		b.do(t, "POST", "/v1/flows/"+flow+"/versions/1/invocations", `{"inputs": `+jsonOf(k.inputs)+`}`, 202)
	})
	step("GET /v1/executions/{exec_id} (running)", func() { b.do(t, "GET", "/v1/executions/"+execID, "", 200) })
	step("finish (the state machine's record step)", func() {
		o := registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(jsonOf(k.result)), At: time.Date(2026, 12, 1, 9, 31, 0, 0, time.UTC)}
		if _, _, err := b.store.FinishExecution(ctx, project, execID, o); err != nil {
			t.Fatal(err)
		}
	})
	step("GET /v1/executions/{exec_id} (completed)", func() { b.do(t, "GET", "/v1/executions/"+execID, "", 200) })
	step("GET /v1/flows/{flow}/executions", func() { b.do(t, "GET", "/v1/flows/"+flow+"/executions", "", 200) })
	step("GET /v1/flows", func() { b.do(t, "GET", "/v1/flows", "", 200) })
	step("GET /v1/flows/{flow}", func() { b.do(t, "GET", "/v1/flows/"+flow, "", 200) })
	step("GET /v1/flows/{flow}/stats", func() { b.do(t, "GET", "/v1/flows/"+flow+"/stats", "", 200) })
	step("GET /v1/flows/{flow}/deployments", func() { b.do(t, "GET", "/v1/flows/"+flow+"/deployments", "", 200) })
	step("GET /v1/flows/{flow}/deployments/{version}", func() { b.do(t, "GET", "/v1/flows/"+flow+"/deployments/1", "", 200) })
	step("GET /v1/flows/{flow}/tags/{tag}/history", func() { b.do(t, "GET", "/v1/flows/"+flow+"/tags/live/history", "", 200) })
	step("POST /v1/flows/{flow}/tags/{tag}/rollback", func() { b.do(t, "POST", "/v1/flows/"+flow+"/tags/live/rollback", "", 200) })
	step("DELETE /v1/flows/{flow}/tags/{tag}", func() { b.do(t, "DELETE", fmt.Sprintf("/v1/flows/%s/tags/canary?version=%d", flow, canary), "", 204) })
	step("DELETE /v1/flows/{flow}/deployments/{version}", func() { b.do(t, "DELETE", fmt.Sprintf("/v1/flows/%s/deployments/%d", flow, untagged), "", 204) })
	return out
}

// TestRouteCapacityIsTheGolden measures every route for a typical and a
// large flow and compares the table with docs/scale-routes.md.
func TestRouteCapacityIsTheGolden(t *testing.T) {
	srv, err := localdynamo.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	engines := [][2]string{{"minidyn", srv.URL}}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		engines = append(engines, [2]string{"dynamodb-local", ep})
	}
	blobSrv, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	defer blobSrv.Close()
	blobs := &artifacts.Store{Blobs: blobSrv.Store()}
	archive, err := bundletest.ResearchArchive()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range engines {
		t.Run(e[0], func(t *testing.T) {
			var doc strings.Builder
			doc.WriteString(header)
			for _, k := range kinds {
				b := newBench(t, e[1], blobs)
				render(&doc, k, measure(t, b, k, archive))
				if err := b.rec.Err(); err != nil {
					t.Errorf("the recorder could not analyse every request: %v", err)
				}
			}
			got := doc.String()
			if *update && e[0] == "minidyn" {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/capmodel -update to write it)", err)
			}
			if string(want) != got {
				t.Errorf("the routes' cost on %s differs from %s (this run's table: %s); if the change is meant, run go test ./pkg/capmodel -update",
					e[0], golden, keep(t, got))
			}
		})
	}
}

// keep writes a run's table where it outlives the test and returns its path.
func keep(t *testing.T, table string) string {
	f, err := os.CreateTemp("", "scale-routes-*.md")
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if _, err := f.WriteString(table); err != nil {
		t.Log(err)
	}
	return f.Name()
}

const header = `# What each route costs in DynamoDB and AWS calls

Generated by ` + "`go test ./pkg/capmodel -update`" + ` (pkg/capmodel/routes_test.go): every
route driven once through the real handler over the DynamoDB store, each
DynamoDB request recorded on the wire and priced by pkg/ddbcost (item sizes
by DynamoDB's rules, read units per 4 KB, write units per 1 KB, the larger
of an item's size before and after a write, transactions twice). The test
fails when a route's cost drifts from this file.

Keys are abstracted: ` + "`<p>`" + ` the project, ` + "`<flow>`" + ` the flow, ` + "`<exec>`" + ` an execution id,
` + "`<N>`" + ` a version, ` + "`<tag>`" + ` a tag, ` + "`<clock>`" + ` a route clock, ` + "`<hash>`" + ` a hash,
` + "`<time>`" + ` a timestamp, ` + "`<digest>`" + ` a bundle's digest. The partition column names
whose partition the item is in: ` + "`flow`" + ` (all of one flow's items share it),
` + "`execution`" + ` (the record's own), ` + "`project`" + ` (the project's flow index),
` + "`running`" + ` (one of the running index's shards), ` + "`listing`" + ` (one of a flow's
execution listing shards), ` + "`key`" + ` (an Idempotency-Key's own), ` + "`bundle`" + ` (a source
bundle's deploy guard), or the key pattern. A row marked ×n stands for n
calls that differ only in their shard (a listing queries every shard).

Flows: **typical** has 4 live tags, 100-byte inputs and a 1 KB result;
**large** has 51 live tags, 10 KB inputs and a 300 KB result. Other AWS
calls are counted by wrappers of the executor (Step Functions) and the
artifact store (S3 objects and presigned URLs). A route's DynamoDB calls
are numbered in a stable order (operation, then key), not the order they
were sent in: some routes send several at once.

Where DynamoDB's documentation is silent, pkg/ddbcost assumes: a
transaction's ConditionCheck costs write units like its other items (twice
a plain write, by the checked item's size); a cancelled transaction costs
what it would have written, as a failed condition does; a set's size is the
sum of its members'; a query's units, rounded up over all its items, are
shared out among them by size. "finish" is the state machine's record step
(FinishExecution on the store), which no HTTP route serves. The deploy's
bundle upload (S3) is not counted.
`

var abstractions = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`ex_[0-9a-zA-Z]{26}`), "<exec>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT[0-9:.]+Z`), "<time>"},
	{regexp.MustCompile(`P#` + project + `#`), "P#<p>#"},
	{regexp.MustCompile(`#` + project + `#`), "#<p>#"},
	{regexp.MustCompile(`(F#)(typical|large)\b`), "${1}<flow>"},
	{regexp.MustCompile(`V#\d+`), "V#<N>"},
	{regexp.MustCompile(`H#[^#]+#\d+`), "H#<tag>#<clock>"},
	{regexp.MustCompile(`sha256:[0-9a-f]{64}`), "<digest>"},
	{regexp.MustCompile(`#[0-9a-f]{64}`), "#<hash>"},
	{regexp.MustCompile(`^RUNNING#\d+`), "RUNNING#<shard>"},
	{regexp.MustCompile(`#X#\d+$`), "#X#<shard>"},
}

func abstract(key string) string {
	for _, a := range abstractions {
		key = a.re.ReplaceAllString(key, a.with)
	}
	return key
}

// callOrder sorts a route's calls: by operation, then the keys and sizes
// of the items they touch, abstracted, so calls that differ only in a
// random shard (a listing's queries) sort the same in every run.
func callOrder(c ddbcost.Call) string {
	var b strings.Builder
	b.WriteString(c.Op)
	for _, a := range c.Accesses {
		fmt.Fprintf(&b, " %s %s %d", abstract(a.PK), abstract(a.SK), a.Bytes)
	}
	return b.String()
}

func partition(pk string) string {
	switch {
	case pk == "P#<p>#F#<flow>":
		return "flow"
	case pk == "P#<p>#E#<exec>":
		return "execution"
	case pk == "P#<p>#FLOWS":
		return "project"
	case strings.HasPrefix(pk, "RUNNING#"):
		return "running"
	case pk == "P#<p>#B#<digest>":
		return "bundle"
	case pk == "P#<p>#F#<flow>#X#<shard>":
		return "listing"
	case pk == "P#<p>#F#<flow>#I#<hash>":
		return "key"
	}
	return "`" + pk + "`"
}

func units(u float64) string {
	if u == 0 {
		return ""
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", u), "0"), ".")
}

func render(w *strings.Builder, k flowKind, routes []measured) {
	fmt.Fprintf(w, "\n## %s flow\n\n", k.name)
	w.WriteString("| route | DynamoDB calls | RCU | WCU | flow-partition RCU | flow-partition WCU | StartExecution | S3 objects | presigns |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range routes {
		var read, write, flowRead, flowWrite float64
		for _, c := range r.calls {
			for _, a := range c.Accesses {
				onFlow := partition(abstract(a.PK)) == "flow"
				switch {
				case a.Write:
					write += a.Units
					if onFlow {
						flowWrite += a.Units
					}
				default:
					read += a.Units
					if onFlow {
						flowRead += a.Units
					}
				}
			}
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.route, len(r.calls), units(read), units(write), units(flowRead), units(flowWrite),
			count(r.other["StartExecution"]), count(r.other["S3 PutObject"]+r.other["S3 DeleteObject"]), count(r.other["presign"]))
	}
	fmt.Fprintf(w, "\n### %s flow: every item touched\n\n", k.name)
	w.WriteString("| route | call | op | PK | SK | partition | bytes | RCU | WCU |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range routes {
		// Calls that differ only in their shard (a listing queries every
		// shard) are one row with their count.
		var rows []string
		seen := map[string]int{}
		for i, c := range r.calls {
			op := c.Op
			if c.Err != "" {
				op += " (" + c.Err + ")"
			}
			for _, a := range c.Accesses {
				pk := abstract(a.PK)
				var rcu, wcu string
				if a.Write {
					wcu = units(a.Units)
				} else {
					rcu = units(a.Units)
				}
				row := fmt.Sprintf("%s | `%s` | `%s` | %s | %d | %s | %s |", op, pk, abstract(a.SK), partition(pk), a.Bytes, rcu, wcu)
				if n, ok := seen[row]; ok {
					seen[row] = n + 1
					continue
				}
				seen[row] = 1
				rows = append(rows, fmt.Sprintf("%d\x00%s", i+1, row))
			}
		}
		for _, row := range rows {
			call, rest, _ := strings.Cut(row, "\x00")
			if n := seen[rest]; n > 1 {
				call = fmt.Sprintf("%s (×%d)", call, n)
			}
			fmt.Fprintf(w, "| %s | %s | %s\n", r.route, call, rest)
		}
	}
}

func count(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}
