package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// fakeOldServer stands in for a server that predates ?wait=: it ignores the
// parameter and answers the execution at once, running until runningFor
// has passed since its first request, then completed. It records the wait
// parameter of each request.
type fakeOldServer struct {
	*httptest.Server
	mu    sync.Mutex
	first time.Time
	waits []string
}

func newFakeOldServer(t *testing.T, runningFor time.Duration) *fakeOldServer {
	t.Helper()
	f := &fakeOldServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		if f.first.IsZero() {
			f.first = time.Now()
		}
		f.waits = append(f.waits, r.URL.Query().Get("wait"))
		status := "running"
		if time.Since(f.first) >= runningFor {
			status = "completed"
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"exec_id":"ex_1","flow":"f","version":1,"status":"`+status+`","result":{"ok":true}}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOldServer) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.waits...)
}

func TestWaitAsksTheServerToHoldEachRead(t *testing.T) {
	for _, c := range []struct {
		name     string
		deadline time.Duration // 0: none
		follow   bool
		want     func(wait time.Duration) bool
		says     string
	}{
		{"Wait without a deadline holds 20 s", 0, false, func(d time.Duration) bool { return d == 20*time.Second }, "20s"},
		{"Wait holds no longer than its deadline", 5 * time.Second, false, func(d time.Duration) bool { return d > 0 && d <= 5*time.Second }, "in (0, 5s]"},
		{"Follow reads at once, then holds 2 s, so progress shows", 0, true, func(d time.Duration) bool { return d == 2*time.Second }, "2s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := newFakeOldServer(t, 300*time.Millisecond)
			cl, err := client.New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if c.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, c.deadline)
				defer cancel()
			}
			var got registry.Execution
			if c.follow {
				got, err = cl.Executions().Follow(ctx, "ex_1", func(registry.Execution) {})
			} else {
				got, err = cl.Executions().Wait(ctx, "ex_1")
			}
			if err != nil || got.Status != registry.StatusCompleted {
				t.Fatalf("Wait = %s, %v; want completed", got.Status, err)
			}
			for i, w := range srv.seen() {
				if c.follow && i == 0 {
					if w != "" {
						t.Errorf("Follow's first read asked wait=%q; want none, so progress shows at once", w)
					}
					continue
				}
				d, err := time.ParseDuration(w)
				if err != nil || !c.want(d) {
					t.Errorf("request %d asked wait=%q; want %s", i+1, w, c.says)
				}
			}
		})
	}
}

func TestWaitPausesBetweenQuickAnswersOfAServerWithoutWait(t *testing.T) {
	srv := newFakeOldServer(t, time.Second)
	cl, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cl.Executions().Wait(context.Background(), "ex_1")
	if err != nil || got.Status != registry.StatusCompleted {
		t.Fatalf("Wait = %s, %v; want completed", got.Status, err)
	}
	// Pauses of at least 50 ms (100 ms jittered) growing 1.5×: about 8 reads
	// in a second. A client that asked again at once would make thousands.
	if n := len(srv.seen()); n > 20 {
		t.Errorf("%d reads in the second the execution ran; want the polling pauses between them", n)
	}
}
