package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// fakeFilteredHistory stands in for a server whose filtered execution list
// finds nothing in its bounded read of the first pages (a route unused for
// over a thousand executions): it answers emptyPages empty pages with a
// next_token, then the execution. It records each request's query.
func fakeFilteredHistory(t *testing.T, emptyPages int) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu      sync.Mutex
		queries []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		n := len(queries)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n <= emptyPages {
			fmt.Fprintf(w, `{"items": [], "next_token": "page%d"}`, n)
			return
		}
		io.WriteString(w, `{"items": [{"exec_id": "ex_found", "flow": "research_agent", "version": 3, "status": "completed", "selector": {"tag": "stable"}}]}`)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), queries...)
	}
}

func TestLatestAsksTheServerForOneExecutionOfTheRoute(t *testing.T) {
	t.Run("a route found in the first page is one request", func(t *testing.T) {
		srv, queries := fakeFilteredHistory(t, 0)
		e, err := newClient(t, srv.URL).Executions().Latest(context.Background(), "research_agent", client.Selector{Tag: "stable"})
		if err != nil || e.ExecID != "ex_found" {
			t.Fatalf("Latest = %+v, %v", e, err)
		}
		if got := queries(); len(got) != 1 || got[0] != "limit=1&tag=stable" {
			t.Errorf("queries %q; want [limit=1&tag=stable]", got)
		}
	})
	t.Run("empty pages with a next_token are paged past", func(t *testing.T) {
		srv, queries := fakeFilteredHistory(t, 2)
		e, err := newClient(t, srv.URL).Executions().Latest(context.Background(), "research_agent", client.Selector{Version: 3})
		if err != nil || e.ExecID != "ex_found" {
			t.Fatalf("Latest = %+v, %v", e, err)
		}
		want := []string{"limit=1&version=3", "limit=1&next_token=page1&version=3", "limit=1&next_token=page2&version=3"}
		if got := queries(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("queries %q; want %q", got, want)
		}
	})
	t.Run("it stops after ten pages with not_found saying so", func(t *testing.T) {
		srv, queries := fakeFilteredHistory(t, 1000)
		_, err := newClient(t, srv.URL).Executions().Latest(context.Background(), "research_agent", client.Selector{Tag: "stable"})
		if registry.CodeOf(err) != registry.CodeNotFound || !strings.Contains(err.Error(), "newest 10 pages") || !strings.Contains(err.Error(), "kitaru executions list research_agent") {
			t.Errorf("err %v; want not_found naming the pages read and how to list", err)
		}
		if n := len(queries()); n != 10 {
			t.Errorf("%d requests; want 10", n)
		}
	})
}
