package cli_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// TestACommandReadsTheRouteAnEarlierCommandChanged: `kitaru flow tag` is
// answered with the tag's route revision, and a later command (a process
// of its own) sends it with its resolve and invoke of that tag, so a
// server's route cache answers them from the new route at once
// (docs/route-cache.md). Another project's commands do not send it.
func TestACommandReadsTheRouteAnEarlierCommandChanged(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t)
	target, err := url.Parse(os.Getenv("KITARU_SERVER_URL"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	answered, sent := map[string]string{}, map[string]string{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if rev := resp.Header.Get(registry.HeaderRouteRevision); rev != "" {
			mu.Lock()
			answered[resp.Request.Method+" "+resp.Request.URL.Path] = rev
			mu.Unlock()
		}
		return nil
	}
	recording := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sent[r.Method+" "+r.URL.Path] = r.Header.Get(registry.HeaderRouteRevision)
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(recording.Close)
	t.Setenv("KITARU_SERVER_URL", recording.URL)

	mustKitaru(t, "flow", "tag", "research_agent", "stable", "--version", "1", "--exclusive")
	rev := answered["PUT /v1/flows/research_agent/tags/stable"]
	if n, err := strconv.ParseInt(rev, 10, 64); err != nil || n < 1 {
		t.Fatalf("the tag was answered with route revision %q; want a number", rev)
	}
	mustKitaru(t, "flow", "deployments", "get", "research_agent", "--tag", "stable")
	mustKitaru(t, "invoke", "research_agent", "--tag", "stable", "--input", `{"topic": "t"}`)
	for _, call := range []string{"GET /v1/flows/research_agent/resolve", "POST /v1/flows/research_agent/invocations"} {
		if got, ok := sent[call]; !ok || got != rev {
			t.Errorf("%s sent route revision %q (called: %v); want %s, the tag's", call, got, ok, rev)
		}
	}

	t.Setenv("KITARU_PROJECT", "another-project")
	kitaru(t, "flow", "deployments", "get", "research_agent", "--tag", "stable")
	if got := sent["GET /v1/flows/research_agent/resolve"]; got != "" {
		t.Errorf("another project's resolve sent route revision %q; want none", got)
	}
}
