package devstack_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// flowOutput counts what kitaru dev passes to its FlowOutput and keeps its start.
type flowOutput struct {
	mu    sync.Mutex
	n     int
	start strings.Builder
}

func (w *flowOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += len(p)
	if room := 64<<10 - w.start.Len(); room > 0 {
		w.start.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// readLog reads an execution's whole log through the API, page by page,
// until the answer says it ended; it returns the log and the pages read.
func (a devClient) readLog(id string, within time.Duration) (string, int) {
	a.t.Helper()
	var log strings.Builder
	deadline := time.Now().Add(within)
	cursor, pages := "", 0
	for {
		var page api.ExecutionLog
		if status := a.do("GET", "/v1/executions/"+id+"/logs?cursor="+cursor, nil, nil, &page); status != http.StatusOK {
			a.t.Fatalf("read log of %s: status %d", id, status)
		}
		pages++
		if len(page.Data) > api.MaxLogPageBytes+3 {
			a.t.Fatalf("a page held %d bytes", len(page.Data))
		}
		log.WriteString(page.Data)
		if page.Ended {
			return log.String(), pages
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("the log of %s did not end within %s (status %s, %d bytes)", id, within, page.Status, log.Len())
		}
		if page.NextCursor == cursor {
			time.Sleep(100 * time.Millisecond)
		}
		cursor = page.NextCursor
	}
}

func TestExecutionLogsThroughKitaruDev(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real flows with python3")
	}
	out := &flowOutput{}
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	a := devClient{t: t, url: srv.URL(), key: srv.APIKey(), srv: srv}
	for _, flow := range []string{"prints", "silent", "breaks_mid_line"} {
		a.deployProject("behaviours", "flows/behaviours.py:"+flow, nil)
	}
	invoke := func(t *testing.T, flow string, inputs map[string]any) string {
		t.Helper()
		var e registry.Execution
		if status := a.do("POST", "/v1/flows/"+flow+"/invocations", map[string]any{"inputs": inputs}, nil, &e); status != http.StatusAccepted {
			t.Fatalf("invoke %s: status %d", flow, status)
		}
		return e.ExecID
	}

	t.Run("a flow that prints 100 MiB keeps a 10 MiB log ending in the truncation marker", func(t *testing.T) {
		started := time.Now()
		id := invoke(t, "prints", map[string]any{"mib": 100})
		log, pages := a.readLog(id, 3*time.Minute)
		e := a.wait(id, time.Minute)
		if e.Status != registry.StatusCompleted {
			t.Fatalf("execution = %+v", e)
		}
		if len(log) > 10<<20 || len(log) < 10<<20-2048 {
			t.Errorf("the log is %d bytes; want a little under 10 MiB", len(log))
		}
		if !strings.Contains(log, "\n[kitaru: output truncated: this execution's log keeps 10485760 bytes; later output is dropped]\n") {
			t.Errorf("no truncation marker; the log ends %q", log[max(0, len(log)-300):])
		}
		if !regexp.MustCompile(`\[kitaru: \d+ more bytes of output were dropped\]\n\[kitaru\] completed in [0-9.]+ s\n$`).MatchString(log) {
			t.Errorf("the log ends %q; want the dropped count and the runner's last line", log[max(0, len(log)-300):])
		}
		if !strings.HasPrefix(log, "[kitaru] running prints v1 ("+id+")") || !strings.Contains(log, "000000000 the quick brown fox") {
			t.Errorf("the log starts %q", log[:min(len(log), 200)])
		}
		out.mu.Lock()
		defer out.mu.Unlock()
		if !strings.Contains(out.start.String(), "000000000 the quick brown fox") {
			t.Errorf("kitaru dev's own output did not get the flow's lines: %q", out.start.String()[:min(out.start.Len(), 200)])
		}
		t.Logf("100 MiB printed, %d bytes of log read in %d pages, %s in all; kitaru dev printed %d bytes of it", len(log), pages, time.Since(started).Round(time.Millisecond), out.n)
	})

	t.Run("a flow that never prints has an ended log of the runner's two lines", func(t *testing.T) {
		id := invoke(t, "silent", nil)
		a.wait(id, time.Minute)
		log, _ := a.readLog(id, 10*time.Second)
		lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "[kitaru] running silent v1") || !strings.HasPrefix(lines[1], "[kitaru] completed in") {
			t.Errorf("log = %q", log)
		}
	})

	t.Run("a flow that breaks mid-line keeps its partial last line", func(t *testing.T) {
		id := invoke(t, "breaks_mid_line", map[string]any{"text": "half a li"})
		log, _ := a.readLog(id, time.Minute)
		if !strings.Contains(log, "a whole first line\nhalf a li") || !strings.Contains(log, "RuntimeError: the flow broke mid-line") {
			t.Errorf("log = %q", log)
		}
	})

	t.Run("another project's execution and a bad cursor are refused", func(t *testing.T) {
		id := invoke(t, "silent", nil)
		for path, want := range map[string]int{
			"/v1/executions/ex_00000000000000000000000000/logs":         http.StatusNotFound,
			"/v1/executions/" + id + "/logs?cursor=x":                   http.StatusBadRequest,
			fmt.Sprintf("/v1/executions/%s/logs?cursor=%d", id, 11<<20): http.StatusBadRequest,
		} {
			if status := a.do("GET", path, nil, nil, nil); status != want {
				t.Errorf("GET %s = %d, want %d", path, status, want)
			}
		}
	})
}
