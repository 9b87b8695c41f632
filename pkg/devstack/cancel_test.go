package devstack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/localdynamo"
	"github.com/kitaru/deployments/pkg/registry"
)

// waitsFlow prints a line once it runs, then sleeps far longer than the test.
const waitsFlow = `import time

from kitaru import flow


@flow
def waits() -> str:
    print("waits: running", flush=True)
    time.sleep(600)
    return "slept"
`

// outputWatch is a dev server's FlowOutput that closes seen once the flows'
// output holds want.
type outputWatch struct {
	want string
	seen chan struct{}

	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func (w *outputWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && bytes.Contains(w.buf.Bytes(), []byte(w.want)) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *outputWatch) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestACancelledExecutionStaysCancelledWhenItsRunEnds cancels a flow while its
// process runs, then closes the server, whose Close returns only once every
// run has ended and anything it records is recorded, and reads the execution
// from the table, which outlives the server: it is still cancelled. Two
// events order the test instead of sleeps: the flow's first line of output
// (the process runs when the cancel arrives) and Close (the stopped run is
// over, so an overwrite would already be in the table).
func TestACancelledExecutionStaysCancelledWhenItsRunEnds(t *testing.T) {
	if _, err := os.Stat("/usr/bin/env"); err != nil {
		t.Skip("no /usr/bin/env")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	ctx := context.Background()
	ddb, err := localdynamo.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ddb.Close() })
	const table = "cancel"
	running := &outputWatch{want: "waits: running", seen: make(chan struct{})}
	srv, err := devstack.Start(ctx, devstack.Config{Addr: "127.0.0.1:0", DynamoDBEndpoint: ddb.URL, Table: table, FlowOutput: running})
	if err != nil {
		t.Fatal(err)
	}
	serving := true
	t.Cleanup(func() {
		if serving {
			_ = srv.Close()
		}
	})
	a := devClient{t: t, url: srv.URL(), key: srv.APIKey()}

	project := t.TempDir()
	if err := os.MkdirAll(filepath.Join(project, "flows"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(project, "flows", "waits.py"), []byte(waitsFlow), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Build(project)
	if err != nil {
		t.Fatal(err)
	}
	deploy := map[string]any{"entrypoint": "flows/waits.py:waits", "source": map[string]any{"archive": base64.StdEncoding.EncodeToString(b.Data)}}
	if status := a.do("POST", "/v1/flows/waits/deployments", deploy, nil, nil); status != http.StatusCreated {
		t.Fatalf("deploy: status %d", status)
	}
	var e registry.Execution
	if status := a.do("POST", "/v1/flows/waits/invocations", map[string]any{}, nil, &e); status != http.StatusAccepted {
		t.Fatalf("invoke: status %d", status)
	}
	select {
	case <-running.seen:
	case <-time.After(time.Minute):
		t.Fatalf("the flow printed nothing within a minute; its output:\n%s", running.output())
	}

	var c registry.Execution
	if status := a.do("POST", "/v1/executions/"+e.ExecID+"/cancel", nil, nil, &c); status != http.StatusOK || c.Status != registry.StatusCancelled {
		t.Fatalf("cancel: %d %+v", status, c)
	}
	var again map[string]any
	if status := a.do("POST", "/v1/executions/"+e.ExecID+"/cancel", nil, nil, &again); status != http.StatusOK {
		t.Fatalf("cancelling again: %d %v", status, again)
	}

	serving = false
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	db, err := defaultconfig.NewClient(ctx, ddb.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dynamo.New(db, table).GetExecution(ctx, devstack.Project, e.ExecID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != registry.StatusCancelled {
		t.Errorf("after its run ended the execution is %s (%+v), want it still cancelled", got.Status, got.Error)
	}
}
