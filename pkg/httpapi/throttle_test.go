package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/sfn/sfntest"
)

// wantRateLimited checks a 429: the envelope with code rate_limited, the
// Retry-After header in whole seconds and the same wait in its details.
func wantRateLimited(t *testing.T, resp events.APIGatewayProxyResponse) {
	t.Helper()
	wantError(t, resp, http.StatusTooManyRequests, registry.CodeRateLimited)
	if got := resp.Headers[httpapi.HeaderRetryAfter]; got != "1" {
		t.Errorf("Retry-After %q, want \"1\"", got)
	}
	envelope := decode[api.ErrorBody](t, resp.Body)
	if got := envelope.Error.Details[registry.DetailRetryAfter]; got != float64(1) {
		t.Errorf("details.%s = %v, want 1", registry.DetailRetryAfter, got)
	}
	checkSurfaceNeutral(t, envelope.Error.Message)
}

func TestAThrottledStartAnswers429AndLeavesNoExecution(t *testing.T) {
	f := newFixture(t)
	sfnFake, client := sfntest.NewFakeStepFunctions(t)
	sfnFake.FailStarts("ThrottlingException", -1)
	ids := 0
	svc := &invoke.Service{
		Registry: f.store, Execs: f.store, Objects: artifactStore, RunObjects: artifactStore, SecretsByReference: true, Stacks: devStacks,
		Executor: &sfn.Executor{Client: client, StateMachineARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:kitaru",
			StartRetry: sfn.StartRetry{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}},
		NewID: func() string { ids++; return fmt.Sprintf("ex_%026d", ids) },
	}
	h := f.handler(httpapi.Config{Executions: f.store, Invoker: svc})
	const flow = "/v1/flows/research_agent"
	must(t, h, request("POST", flow+"/deployments", deployBody("")), http.StatusCreated)
	invokeReq := withHeader(request("POST", flow+"/invocations", `{"tag": "default"}`), "Idempotency-Key", "inv-1")

	wantRateLimited(t, do(t, h, invokeReq))
	t.Run("the execution is not readable", func(t *testing.T) {
		wantError(t, do(t, h, request("GET", fmt.Sprintf("/v1/executions/ex_%026d", 1), "")), http.StatusNotFound, registry.CodeNotFound)
	})
	t.Run("the execution is not in the flow's list", func(t *testing.T) {
		list := decode[struct{ Items []registry.Execution }](t, must(t, h, request("GET", flow+"/executions", ""), http.StatusOK))
		if len(list.Items) != 0 {
			t.Errorf("listed %d executions, want none", len(list.Items))
		}
	})
	t.Run("the reaper finds nothing running", func(t *testing.T) {
		running, err := f.store.RunningStartedBefore(context.Background(), time.Now().Add(time.Hour), 10)
		if err != nil || len(running) != 0 {
			t.Errorf("running index %+v (%v), want empty", running, err)
		}
	})
	t.Run("once Step Functions has room, the same Idempotency-Key starts an execution", func(t *testing.T) {
		sfnFake.FailStarts("", 0)
		resp := do(t, h, invokeReq)
		if resp.StatusCode != http.StatusAccepted || resp.Headers[httpapi.HeaderReplayed] != "" {
			t.Fatalf("status %d replayed=%q body %s; want 202, a new execution", resp.StatusCode, resp.Headers[httpapi.HeaderReplayed], resp.Body)
		}
		if e := decode[registry.Execution](t, resp.Body); e.ExecID != fmt.Sprintf("ex_%026d", 2) || e.Status != registry.StatusRunning {
			t.Errorf("execution %s %s, want ex_…2 running", e.ExecID, e.Status)
		}
		if sfnFake.Executions() != 1 {
			t.Errorf("%d runs started, want 1", sfnFake.Executions())
		}
	})
}

func TestAThrottledDatabaseAnswers429(t *testing.T) {
	f := newFixture(t)
	must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), http.StatusCreated)
	faults := &dynamotest.Faults{Throttle: 1, AllOperations: true, ThrottleCode: "ProvisionedThroughputExceededException"}
	db, err := defaultconfig.NewClient(context.Background(), dynamoURL, faults.Option(),
		func(o *dynamodb.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 2) })
	if err != nil {
		t.Fatal(err)
	}
	throttled := &fixture{store: dynamo.New(db, f.table)}
	h := throttled.handler(httpapi.Config{})
	for _, ev := range []struct{ method, target, body string }{
		{"GET", "/v1/flows/research_agent", ""},
		{"GET", "/v1/flows/research_agent/resolve?tag=default", ""},
		{"PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`},
	} {
		t.Run(ev.method+" "+ev.target, func(t *testing.T) {
			wantRateLimited(t, do(t, h, request(ev.method, ev.target, ev.body)))
		})
	}
}

// serveHTTP puts h behind a real HTTP server as the gateway would, every
// request coming from kitaru dev's producer key.
func serveHTTP(t *testing.T, h *httpapi.Handler) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		headers := map[string]string{}
		for k := range r.Header {
			headers[k] = r.Header.Get(k)
		}
		resp, err := h.Handle(r.Context(), withHeaders(request(r.Method, r.URL.RequestURI(), string(body)), headers))
		if err != nil {
			t.Errorf("%s %s: handler error: %v", r.Method, r.URL, err) // not Fatal: this is the server's goroutine
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		for k, v := range resp.Headers {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.WriteString(w, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestTheGoClientWaitsRetryAfterAndInvokesOnce(t *testing.T) {
	f := newFixture(t)
	sfnFake, sfnClient := sfntest.NewFakeStepFunctions(t)
	sfnFake.FailStarts("ThrottlingException", 2) // every attempt of the first invoke
	svc := &invoke.Service{
		Registry: f.store, Execs: f.store, Objects: artifactStore, RunObjects: artifactStore, SecretsByReference: true, Stacks: devStacks,
		Executor: &sfn.Executor{Client: sfnClient, StateMachineARN: "arn:aws:states:eu-west-1:123456789012:stateMachine:kitaru",
			StartRetry: sfn.StartRetry{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}},
	}
	h := f.handler(httpapi.Config{Executions: f.store, Invoker: svc})
	must(t, h, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), http.StatusCreated)

	var pauses []time.Duration
	policy := client.DefaultRetryPolicy()
	policy.Sleep = func(_ context.Context, d time.Duration) error { pauses = append(pauses, d); return nil }
	c, err := client.New(serveHTTP(t, h), client.WithRetryPolicy(policy), client.WithProject("default"))
	if err != nil {
		t.Fatal(err)
	}
	handle, err := c.Deployments().Invoke(context.Background(), "research_agent", client.InvokeOptions{})
	if err != nil {
		t.Fatalf("Invoke = %v; want the retry after the 429 to start the execution", err)
	}
	if handle.Replayed || handle.Execution.Status != registry.StatusRunning {
		t.Errorf("replayed=%v status %s; want a new running execution", handle.Replayed, handle.Execution.Status)
	}
	if len(pauses) != 1 || pauses[0] != time.Second {
		t.Errorf("the client paused %v; want once, for the 429's Retry-After of 1s", pauses)
	}
	list, err := c.Executions().List(context.Background(), "research_agent", client.ListOptions{})
	if err != nil || len(list.Items) != 1 || sfnFake.Executions() != 1 {
		t.Errorf("%d executions recorded (%v), %d runs started; want exactly one of each", len(list.Items), err, sfnFake.Executions())
	}
}
