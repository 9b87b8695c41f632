package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/execwatch"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// waitFixture serves executions on the fixture's store with a Hub, as kitaru
// dev does, and with the default Poller, as the invoke function does.
type waitFixture struct {
	*fixture
	hub *execwatch.Hub
	// handlers maps "hub" and "poller" to a handler.
	handlers map[string]*httpapi.Handler
}

func newWaitFixture(t *testing.T) *waitFixture {
	f := newFixture(t)
	hub := execwatch.NewHub(f.store)
	return &waitFixture{fixture: f, hub: hub, handlers: map[string]*httpapi.Handler{
		"hub":    f.handler(httpapi.Config{Executions: f.store, Watcher: hub}),
		"poller": f.handler(httpapi.Config{Executions: f.store}),
	}}
}

// running records a running execution of project default.
func (f *waitFixture) running(t *testing.T, id string) {
	t.Helper()
	_, created, err := f.store.CreateExecution(context.Background(), registry.Execution{
		Project: "default", ExecID: id, Flow: "research_agent", Version: 1,
		Snapshot: registry.SnapshotName("research_agent", 1), Status: registry.StatusRunning, Inputs: json.RawMessage(`{}`),
	})
	if err != nil || !created {
		t.Fatalf("record %s: created=%v, %v", id, created, err)
	}
}

// finish records the execution's outcome and notifies the hub, as kitaru
// dev's finisher does.
func (f *waitFixture) finish(t *testing.T, id string, status registry.ExecStatus) {
	t.Helper()
	o := registry.Outcome{Status: status, At: time.Now().UTC()}
	if status == registry.StatusCompleted {
		o.Result = json.RawMessage(`{"answer":42}`)
	}
	if _, _, err := f.store.FinishExecution(context.Background(), "default", id, o); err != nil {
		t.Errorf("finish %s: %v", id, err)
	}
	f.hub.Notify("default", id)
}

// Execution ids of the shape execID accepts.
const (
	waitExecA = "ex_01kbwaitaaaaaaaaaaaaaaaaaa"
	waitExecB = "ex_01kbwaitbbbbbbbbbbbbbbbbbb"
	waitExecC = "ex_01kbwaitcccccccccccccccccc"
	waitExecD = "ex_01kbwaitdddddddddddddddddd"
)

func TestGetExecutionWithWaitAnswersWhenTheExecutionEndsMidWait(t *testing.T) {
	f := newWaitFixture(t)
	for name, h := range f.handlers {
		t.Run(name, func(t *testing.T) {
			id := map[string]string{"hub": waitExecA, "poller": waitExecB}[name]
			f.running(t, id)
			deadline := time.Now().Add(20 * time.Second)
			var wg sync.WaitGroup
			wg.Go(func() {
				time.Sleep(100 * time.Millisecond)
				f.finish(t, id, registry.StatusCompleted)
			})
			body := must(t, h, request("GET", "/v1/executions/"+id+"?wait=20s", ""), http.StatusOK)
			wg.Wait()
			got := decode[registry.Execution](t, body)
			if got.Status != registry.StatusCompleted || string(got.Result) != `{"answer":42}` {
				t.Fatalf("answer %s; want the completed execution", body)
			}
			if !time.Now().Before(deadline) {
				t.Errorf("answered only when the 20 s wait had passed")
			}
		})
	}
}

func TestGetExecutionWithWaitAnswersAnEndedExecutionAtOnce(t *testing.T) {
	f := newWaitFixture(t)
	f.running(t, waitExecA)
	f.finish(t, waitExecA, registry.StatusFailed)
	for name, h := range f.handlers {
		t.Run(name, func(t *testing.T) {
			deadline := time.Now().Add(20 * time.Second)
			got := decode[registry.Execution](t, must(t, h, request("GET", "/v1/executions/"+waitExecA+"?wait=20s", ""), http.StatusOK))
			if got.Status != registry.StatusFailed || !time.Now().Before(deadline) {
				t.Fatalf("status %s; want failed before the wait passed", got.Status)
			}
		})
	}
}

func TestGetExecutionWithWaitAnswersRunningWhenTheWaitPasses(t *testing.T) {
	f := newWaitFixture(t)
	f.running(t, waitExecA)
	for name, h := range f.handlers {
		t.Run(name, func(t *testing.T) {
			got := decode[registry.Execution](t, must(t, h, request("GET", "/v1/executions/"+waitExecA+"?wait=200ms", ""), http.StatusOK))
			if got.Status != registry.StatusRunning {
				t.Fatalf("status %s; want running", got.Status)
			}
		})
	}
}

func TestGetExecutionWithWaitIsNotFoundAtOnceForAnUnknownOrOtherProjectsExecution(t *testing.T) {
	f := newWaitFixture(t)
	f.running(t, waitExecA)
	for name, h := range f.handlers {
		t.Run(name, func(t *testing.T) {
			for _, ev := range []struct {
				what string
				ev   events.APIGatewayProxyRequest
			}{
				{"unknown", request("GET", "/v1/executions/"+waitExecD+"?wait=20s", "")},
				{"other project", as(request("GET", "/v1/executions/"+waitExecA+"?wait=20s", ""), "other", "producer", "k2")},
				{"malformed id", request("GET", "/v1/executions/ex_nope?wait=20s", "")},
			} {
				deadline := time.Now().Add(20 * time.Second)
				wantError(t, do(t, h, ev.ev), http.StatusNotFound, registry.CodeNotFound)
				if !time.Now().Before(deadline) {
					t.Errorf("%s: not_found only after the wait", ev.what)
				}
			}
		})
	}
}

func TestGetExecutionRefusesABadWait(t *testing.T) {
	f := newWaitFixture(t)
	f.running(t, waitExecA)
	h := f.handlers["hub"]
	for _, q := range []string{"wait=soon", "wait=20", "wait=-1s", "wait=21s", "wait=1h", "wait=1s&wait=2s", "wait="} {
		t.Run(q, func(t *testing.T) {
			resp := do(t, h, request("GET", "/v1/executions/"+waitExecA+"?"+q, ""))
			msg := wantError(t, resp, http.StatusBadRequest, registry.CodeInvalidArgument)
			env := decode[api.ErrorBody](t, resp.Body)
			if q != "wait=1s&wait=2s" && (env.Error.Details["parameter"] != "wait" || env.Error.Details["max"] != "20s") {
				t.Errorf("details %v; want parameter wait and max 20s (message %q)", env.Error.Details, msg)
			}
		})
	}
	for _, q := range []string{"wait=0", "wait=0s", "wait=20s", "wait=1.5ms"} {
		t.Run(q+" is accepted", func(t *testing.T) {
			must(t, h, request("GET", "/v1/executions/"+waitExecC+"?"+q, ""), http.StatusNotFound)
		})
	}
}

func TestACancelWakesAWaiter(t *testing.T) {
	f := newWaitFixture(t)
	f.running(t, waitExecA)
	// The cancel route records through invoke.Service.Cancel; kitaru dev
	// notifies after every recorded outcome, as finish does here.
	deadline := time.Now().Add(20 * time.Second)
	var wg sync.WaitGroup
	wg.Go(func() {
		for f.hub.Waiting() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		f.finish(t, waitExecA, registry.StatusCancelled)
	})
	got := decode[registry.Execution](t, must(t, f.handlers["hub"], request("GET", "/v1/executions/"+waitExecA+"?wait=20s", ""), http.StatusOK))
	wg.Wait()
	if got.Status != registry.StatusCancelled || !time.Now().Before(deadline) {
		t.Fatalf("status %s; want cancelled before the wait passed", got.Status)
	}
}

func TestADepartedClientEndsTheWait(t *testing.T) {
	f := newWaitFixture(t)
	f.running(t, waitExecA)
	for name, h := range f.handlers {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = h.Handle(ctx, request("GET", "/v1/executions/"+waitExecA+"?wait=20s", ""))
			}()
			for !strings.Contains(stacks(), "execwatch.") {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			<-done
			if f.hub.Waiting() != 0 {
				t.Errorf("the hub still holds %d waiters", f.hub.Waiting())
			}
			for range 100 {
				if !strings.Contains(stacks(), "execwatch.") && !strings.Contains(stacks(), "httpapi.(*Handler)") {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Errorf("goroutines of the wait are left after the client went away:\n%s", stacks())
		})
	}
}

// stacks is every goroutine's stack (the SDK's pooled connections come and
// go, so tests look for frames of this code rather than count goroutines).
func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
