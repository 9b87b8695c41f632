package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/localdynamo"
	"github.com/kitaru/deployments/pkg/registry"
)

var (
	dynamoURL string
	tableSeq  atomic.Int64
	// artifactStore keeps bundles on an in-process S3 (gofakes3), as kitaru dev does.
	artifactStore *artifacts.Store
	// researchArchive is a base64 bundle holding flows/research.py.
	researchArchive string
)

func TestMain(m *testing.M) {
	srv, err := localdynamo.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dynamoURL = srv.URL
	blobs, err := localblob.Start("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	researchArchive, err = bundletest.ResearchArchive()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	artifactStore = &artifacts.Store{Blobs: blobs.Store()}
	code := m.Run()
	if err := errors.Join(srv.Close(), blobs.Close()); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// devStacks mirror kitaru dev: `dev` executes remotely, `local` does not.
var devStacks = registry.Stacks{
	All:     []registry.Stack{{Name: "dev", RemoteExecutable: true}, {Name: "local"}},
	Default: "dev",
}

// fixture is a fresh table on the in-process DynamoDB and the real store.
type fixture struct {
	store *dynamo.Store
	table string
	// dev serves every route; request() events carry the authorizer context
	// of kitaru dev's producer key in project "default".
	dev *httpapi.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := defaultconfig.NewClient(ctx, dynamoURL)
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("httpapi-test-%d", tableSeq.Add(1))
	if err := dynamo.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}); err != nil {
			t.Logf("delete table %s: %v", table, err)
		}
	})
	f := &fixture{store: dynamo.New(db, table), table: table}
	f.dev = f.handler(httpapi.Config{})
	return f
}

// handler builds another handler on the fixture's store, with the dev stacks.
func (f *fixture) handler(cfg httpapi.Config) *httpapi.Handler {
	cfg.Stacks = devStacks
	cfg.Artifacts = artifactStore
	cfg.Bundles = artifactStore
	return httpapi.New(f.store, cfg)
}

// request builds the event API Gateway sends for method and target (a path
// with an optional query string).
func request(method, target, body string) events.APIGatewayProxyRequest {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	ev := events.APIGatewayProxyRequest{
		HTTPMethod:     method,
		Path:           u.Path,
		Body:           body,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "req-1", Stage: "test", HTTPMethod: method, Path: u.Path},
	}
	// By default the caller is kitaru dev's producer key in project default.
	ev = as(ev, "default", "producer", "dev")
	if q := u.Query(); len(q) > 0 {
		ev.MultiValueQueryStringParameters = q
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
		}
	}
	return ev
}

// withHeader returns ev with a request header added.
func withHeader(ev events.APIGatewayProxyRequest, name, value string) events.APIGatewayProxyRequest {
	ev.Headers = map[string]string{name: value}
	ev.MultiValueHeaders = map[string][]string{name: {value}}
	return ev
}

// withHeaders returns ev with exactly these request headers.
func withHeaders(ev events.APIGatewayProxyRequest, headers map[string]string) events.APIGatewayProxyRequest {
	ev.Headers, ev.MultiValueHeaders = map[string]string{}, map[string][]string{}
	for k, v := range headers {
		ev.Headers[k], ev.MultiValueHeaders[k] = v, []string{v}
	}
	return ev
}

// as returns ev as the authorizer would pass it for a principal.
func as(ev events.APIGatewayProxyRequest, project, role, id string) events.APIGatewayProxyRequest {
	ev.RequestContext.Authorizer = map[string]any{"project": project, "role": role, "principal_id": id, "credential": "api_key"}
	return ev
}

// anonymous returns ev as it arrives without an authorizer in front.
func anonymous(ev events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
	ev.RequestContext.Authorizer = nil
	return ev
}

// do sends ev to h and fails the test if the handler returns an error.
func do(t *testing.T, h *httpapi.Handler, ev events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	t.Helper()
	resp, err := h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s %s: handler error: %v", ev.HTTPMethod, ev.Path, err)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("%s %s: Content-Type = %q, want application/json", ev.HTTPMethod, ev.Path, ct)
	}
	return resp
}

// must sends ev and fails unless the status is want; it returns the body.
func must(t *testing.T, h *httpapi.Handler, ev events.APIGatewayProxyRequest, want int) string {
	t.Helper()
	resp := do(t, h, ev)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", ev.HTTPMethod, ev.Path, resp.StatusCode, want, resp.Body)
	}
	return resp.Body
}

// decode unmarshals a response body into a T.
func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
	return v
}

// wantError fails unless resp is the error envelope with status and code,
// and returns its message.
func wantError(t *testing.T, resp events.APIGatewayProxyResponse, status int, code registry.Code) string {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	env := decode[api.ErrorBody](t, resp.Body)
	if env.Error.Code != code || env.Error.Message == "" {
		t.Fatalf("error envelope %s, want code %s and a message", resp.Body, code)
	}
	return env.Error.Message
}

// deployBody is a minimal valid deploy request body with extra fields; it
// carries the research project inline unless extra names a source.
func deployBody(extra string) string {
	body := `{"entrypoint": "flows/research.py:research_agent", "inputs": {"topic": "durable agents"}`
	if !strings.Contains(extra, `"source"`) {
		body += `, "source": {"archive": "` + researchArchive + `"}`
	}
	if extra != "" {
		body += ", " + extra
	}
	return body + "}"
}

// state is what the API shows of a project; a refused request must leave it as it was.
func (f *fixture) state(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, target := range []string{
		"/v1/flows",
		"/v1/flows/research_agent/deployments",
		"/v1/flows/research_agent/tags/default/history",
		"/v1/flows/research_agent/tags/canary/history",
	} {
		b.WriteString(must(t, f.dev, request("GET", target, ""), 200))
	}
	return b.String()
}

// researchDigest and researchSize describe researchArchive.
func researchDigest(t *testing.T) string {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(researchArchive)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("sha256:%x", sha256.Sum256(data))
}

func researchSize(t *testing.T) int64 {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(researchArchive)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(data))
}
