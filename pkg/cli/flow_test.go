package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// startKitaruDev serves a real kitaru dev on a free port and points the
// connection variables at it.
func startKitaruDev(t *testing.T) {
	t.Helper()
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("KITARU_SERVER_URL", srv.URL())
	t.Setenv("KITARU_AUTH_TOKEN", srv.APIKey())
	t.Setenv("KITARU_PROJECT", devstack.Project)
	t.Setenv("KITARU_CONFIG_DIR", t.TempDir())
}

// requestLog is what recordRequests saw: each request's method and URI.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

// take returns the requests recorded since the last take.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := l.seen
	l.seen = nil
	return seen
}

// recordRequests puts a proxy in front of the kitaru dev startKitaruDev
// started, and points the CLI at it, so a test can assert which requests a
// command makes.
func recordRequests(t *testing.T) *requestLog {
	t.Helper()
	target, err := url.Parse(os.Getenv("KITARU_SERVER_URL"))
	if err != nil {
		t.Fatal(err)
	}
	var l requestLog
	proxy := httputil.NewSingleHostReverseProxy(target)
	recording := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.RequestURI())
		l.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(recording.Close)
	t.Setenv("KITARU_SERVER_URL", recording.URL)
	return &l
}

// mustKitaru runs kitaru and fails the test unless it exits 0.
func mustKitaru(t *testing.T, args ...string) string {
	t.Helper()
	exit, stdout, stderr := kitaru(t, args...)
	if exit != cli.ExitOK {
		t.Fatalf("kitaru %s: exit %d, stderr %q", strings.Join(args, " "), exit, stderr)
	}
	return stdout
}

// itemOf decodes a {"command", "item"} envelope, checking the command.
func itemOf[T any](t *testing.T, command, stdout string) T {
	t.Helper()
	var env struct {
		Command string          `json:"command"`
		Item    json.RawMessage `json:"item"`
	}
	if err := json.Unmarshal([]byte(stdout), &env); err != nil {
		t.Fatalf("output %q: %v", stdout, err)
	}
	if env.Command != command {
		t.Errorf("command %q, want %q", env.Command, command)
	}
	var item T
	if err := json.Unmarshal(env.Item, &item); err != nil {
		t.Fatalf("item %s: %v", env.Item, err)
	}
	return item
}

// itemsOf decodes a {"command", "count", "items"} envelope, checking the
// command and that count is the number of items.
func itemsOf[T any](t *testing.T, command, stdout string) []T {
	t.Helper()
	var env struct {
		Command string `json:"command"`
		Count   int    `json:"count"`
		Items   []T    `json:"items"`
	}
	if err := json.Unmarshal([]byte(stdout), &env); err != nil {
		t.Fatalf("output %q: %v", stdout, err)
	}
	if env.Command != command || env.Count != len(env.Items) || env.Items == nil {
		t.Errorf("envelope command %q count %d with %d items; want command %q and a count of its items", env.Command, env.Count, len(env.Items), command)
	}
	return env.Items
}

// errorOf decodes the {"command", "error"} envelope on stderr.
func errorOf(t *testing.T, command, stderr string) api.ErrorDetail {
	t.Helper()
	var env struct {
		Command string           `json:"command"`
		Error   *api.ErrorDetail `json:"error"`
	}
	if err := json.Unmarshal([]byte(stderr), &env); err != nil || env.Error == nil {
		t.Fatalf("stderr %q is not an error envelope: %v", stderr, err)
	}
	if env.Command != command {
		t.Errorf("command %q, want %q", env.Command, command)
	}
	return *env.Error
}

// deployResearch deploys the research flow from a copy of its project:
// version 1 holds default, version 2 canary (exclusive). It returns the
// deploy target.
func deployResearch(t *testing.T) string {
	t.Helper()
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "research"))
	target := filepath.Join(root, "flows", "research.py") + ":research_agent"
	mustKitaru(t, "deploy", target, "--input", `{"topic": "durable agents"}`)
	mustKitaru(t, "deploy", target, "--tag", "canary", "--exclusive", "--input", `{"topic": "durable agents"}`)
	return target
}

func TestFlowRoutingOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t)

	t.Run("tag points an exclusive tag at a version", func(t *testing.T) {
		out := mustKitaru(t, "flow", "tag", "research_agent", "stable", "--version", "2", "--exclusive")
		if want := "Tagged: stable* of research_agent now points at version 2 (exclusive, revision 1)\n"; out != want {
			t.Errorf("stdout %q, want %q", out, want)
		}
	})
	t.Run("tag adds a shared tag to two versions, the item saying so", func(t *testing.T) {
		mustKitaru(t, "flow", "tag", "research_agent", "benchmark", "--version", "1")
		tag := itemOf[registry.Tag](t, "flow tag", mustKitaru(t, "flow", "tag", "research_agent", "benchmark", "--version", "2", "-o", "json"))
		if tag.Name != "benchmark" || tag.Exclusive || !slices.Equal(tag.Versions, []int{1, 2}) {
			t.Errorf("tag %+v", tag)
		}
		out := mustKitaru(t, "flow", "tag", "research_agent", "benchmark", "--version", "2")
		if want := "Tagged: benchmark of research_agent now points at versions 1 and 2 (shared, revision 2)\n"; out != want {
			t.Errorf("stdout %q, want %q", out, want)
		}
	})
	t.Run("tag get shows a tag with its revision", func(t *testing.T) {
		out := mustKitaru(t, "flow", "tag", "get", "research_agent", "stable")
		for _, want := range []string{"Flow:      research_agent\n", "Tag:       stable (exclusive)\n", "Routes to: version 2\n", "Revision:  1 (", "--if-revision 1)"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		tag := itemOf[registry.Tag](t, "flow tag get", mustKitaru(t, "flow", "tag", "get", "research_agent", "benchmark", "-o", "json"))
		if diff := cmp.Diff(registry.Tag{Flow: "research_agent", Name: "benchmark", Versions: []int{1, 2}, Revision: 2}, tag); diff != "" {
			t.Errorf("item (-want +got):\n%s", diff)
		}
		if out := mustKitaru(t, "flow", "tag", "get", "research_agent", "benchmark"); !strings.Contains(out, "Routes to: versions 1 and 2\n") {
			t.Errorf("stdout %q", out)
		}
	})
	t.Run("tag get of a tag that does not exist fails", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "flow", "tag", "get", "research_agent", "prod", "-o", "json")
		if e := errorOf(t, "flow tag get", stderr); exit != cli.ExitError || stdout != "" || e.Code != registry.CodeNotFound {
			t.Errorf("exit %d, stdout %q, error %+v", exit, stdout, e)
		}
	})
	t.Run("tag get takes exactly a flow and a tag", func(t *testing.T) {
		if exit, _, stderr := kitaru(t, "flow", "tag", "get", "research_agent"); exit != cli.ExitUsage {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
	t.Run("the revision tag get shows makes --if-revision succeed", func(t *testing.T) {
		tag := itemOf[registry.Tag](t, "flow tag get", mustKitaru(t, "flow", "tag", "get", "research_agent", "canary", "-o", "json"))
		rev := strconv.FormatInt(tag.Revision, 10)
		mustKitaru(t, "flow", "tag", "research_agent", "canary", "--version", "1", "--exclusive", "--if-revision", rev)
		mustKitaru(t, "flow", "tag", "research_agent", "canary", "--version", "2", "--exclusive")
	})
	t.Run("tag with a stale --if-revision is refused", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "tag", "research_agent", "stable", "--version", "1", "--exclusive", "--if-revision", "0", "-o", "json")
		if e := errorOf(t, "flow tag", stderr); exit != cli.ExitError || e.Code != registry.CodePreconditionFailed {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
	t.Run("list shows the flow with its counts and tags, exclusive ones marked *", func(t *testing.T) {
		out := mustKitaru(t, "flow", "list")
		for _, want := range []string{"FLOW", "DEPLOYMENTS", "research_agent", "benchmark, canary*, default*, stable*", "(* exclusive)"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		flows := itemsOf[registry.FlowSummary](t, "flow list", mustKitaru(t, "flow", "list", "-o", "json"))
		if len(flows) != 1 || flows[0].Flow != "research_agent" || flows[0].DeploymentCount != 2 {
			t.Errorf("flows %+v", flows)
		}
	})
	t.Run("show lists every tag with its versions, exclusive ones marked", func(t *testing.T) {
		out := mustKitaru(t, "flow", "show", "research_agent")
		for _, want := range []string{"Deployments:  2 (latest version 2)", "Default:      version 1", "benchmark  1, 2\n", "canary*    2\n", "default*   1\n", "stable*    2\n", "(* exclusive)"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		item := itemOf[registry.FlowSummary](t, "flow show", mustKitaru(t, "flow", "show", "research_agent", "-o", "json"))
		want := map[string][]int{"benchmark": {1, 2}, "canary": {2}, "default": {1}, "stable": {2}}
		if diff := cmp.Diff(want, item.Tags); diff != "" {
			t.Errorf("tags (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"canary", "default", "stable"}, item.ExclusiveTags); diff != "" {
			t.Errorf("exclusive tags (-want +got):\n%s", diff)
		}
		if item.DefaultVersion == nil || *item.DefaultVersion != 1 || item.LatestVersion != 2 {
			t.Errorf("summary %+v", item)
		}
	})
	t.Run("rollback moves an exclusive tag back where it was", func(t *testing.T) {
		mustKitaru(t, "flow", "tag", "research_agent", "stable", "--version", "1", "--exclusive")
		out := mustKitaru(t, "flow", "rollback", "research_agent", "stable")
		if !strings.HasPrefix(out, "Rolled back: stable* of research_agent now points at version 2") {
			t.Errorf("stdout %q", out)
		}
		mustKitaru(t, "flow", "tag", "research_agent", "stable", "--version", "1", "--exclusive")
		tag := itemOf[registry.Tag](t, "flow rollback", mustKitaru(t, "flow", "rollback", "research_agent", "stable", "-o", "json"))
		if !tag.Exclusive || !slices.Equal(tag.Versions, []int{2}) {
			t.Errorf("tag %+v", tag)
		}
	})
	t.Run("rollback of a shared tag is a conflict", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "rollback", "research_agent", "benchmark", "-o", "json")
		if e := errorOf(t, "flow rollback", stderr); exit != cli.ExitError || e.Code != registry.CodeConflict {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
	t.Run("history shows when, who, action and from → to, newest first", func(t *testing.T) {
		out := mustKitaru(t, "flow", "history", "research_agent", "stable")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 6 || !strings.Contains(lines[0], "WHEN") || !strings.Contains(lines[0], "FROM → TO") {
			t.Fatalf("stdout %q", out)
		}
		for i, want := range []string{"rollback  1 → 2", "move      2 → 1", "rollback  1 → 2", "move      2 → 1", "move      - → 2"} {
			if !strings.HasSuffix(lines[i+1], want) {
				t.Errorf("row %d %q, want it to end %q", i+1, lines[i+1], want)
			}
		}
		changes := itemsOf[registry.RouteChange](t, "flow history", mustKitaru(t, "flow", "history", "research_agent", "stable", "-o", "json"))
		if len(changes) != 5 || changes[0].Action != registry.ActionRollback || *changes[0].To != 2 || changes[4].From != nil {
			t.Errorf("changes %+v", changes)
		}
	})
	t.Run("history --limit stops after that many changes", func(t *testing.T) {
		changes := itemsOf[registry.RouteChange](t, "flow history", mustKitaru(t, "flow", "history", "research_agent", "stable", "--limit", "2", "-o", "json"))
		if len(changes) != 2 {
			t.Errorf("%d changes, want 2", len(changes))
		}
	})
	t.Run("untag removes a shared tag from one version", func(t *testing.T) {
		out := mustKitaru(t, "flow", "untag", "research_agent", "benchmark", "--version", "1")
		if out != "Removed tag benchmark from research_agent version 1\n" {
			t.Errorf("stdout %q", out)
		}
		mustKitaru(t, "flow", "tag", "research_agent", "benchmark", "--version", "1")
		item := itemOf[map[string]any](t, "flow untag", mustKitaru(t, "flow", "untag", "research_agent", "benchmark", "--version", "1", "-o", "json"))
		if diff := cmp.Diff(map[string]any{"flow": "research_agent", "tag": "benchmark", "version": 1.0}, item); diff != "" {
			t.Errorf("item (-want +got):\n%s", diff)
		}
	})
	t.Run("untag refuses to remove default", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "untag", "research_agent", "default", "--version", "1")
		if exit != cli.ExitError || !strings.HasPrefix(stderr, "error: ") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
}

func TestFlowDeploymentsOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	target := deployResearch(t)
	mustKitaru(t, "flow", "tag", "research_agent", "benchmark", "--version", "1")
	mustKitaru(t, "flow", "tag", "research_agent", "benchmark", "--version", "2")

	t.Run("list shows versions newest first with their tags", func(t *testing.T) {
		out := mustKitaru(t, "flow", "deployments", "list", "research_agent")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[1], "2        benchmark, canary*") || !strings.HasPrefix(lines[2], "1        benchmark, default*") || lines[3] != "(* exclusive)" {
			t.Errorf("stdout %q", out)
		}
		ds := itemsOf[registry.Deployment](t, "flow deployments list", mustKitaru(t, "flow", "deployments", "list", "research_agent", "-o", "json"))
		if len(ds) != 2 || ds[0].Version != 2 || !ds[0].Tags["canary"] || ds[1].Version != 1 {
			t.Errorf("deployments %+v", ds)
		}
	})
	t.Run("list --limit 1 shows the newest version only", func(t *testing.T) {
		ds := itemsOf[registry.Deployment](t, "flow deployments list", mustKitaru(t, "flow", "deployments", "list", "research_agent", "--limit", "1", "-o", "json"))
		if len(ds) != 1 || ds[0].Version != 2 {
			t.Errorf("deployments %+v", ds)
		}
	})
	for _, tt := range []struct {
		name        string
		args        []string
		wantVersion int
	}{
		{"get --version shows that version", []string{"--version", "1"}, 1},
		{"get --tag shows the version the tag routes to", []string{"--tag", "canary"}, 2},
		{"get without a selector shows the default version", nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"flow", "deployments", "get", "research_agent"}, tt.args...)
			out := mustKitaru(t, args...)
			for _, want := range []string{"Flow:         research_agent", "Version:      " + string(rune('0'+tt.wantVersion)) + " (snapshot kitaru::research_agent::v", "Entrypoint:   flows/research.py:research_agent", `Inputs:       {"topic":"durable agents"}`, "(* exclusive)"} {
				if !strings.Contains(out, want) {
					t.Errorf("stdout %q lacks %q", out, want)
				}
			}
			d := itemOf[registry.Deployment](t, "flow deployments get", mustKitaru(t, append(args, "-o", "json")...))
			if d.Version != tt.wantVersion || d.Flow != "research_agent" {
				t.Errorf("deployment %+v", d)
			}
		})
	}
	t.Run("get by a shared tag on two versions is a conflict", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "flow", "deployments", "get", "research_agent", "--tag", "benchmark", "-o", "json")
		e := errorOf(t, "flow deployments get", stderr)
		if exit != cli.ExitError || stdout != "" || e.Code != registry.CodeConflict || !strings.Contains(e.Message, "pass --version 1 or --version 2 instead of --tag") {
			t.Errorf("exit %d, stdout %q, error %+v", exit, stdout, e)
		}
		exit, _, stderr = kitaru(t, "flow", "deployments", "get", "research_agent", "--tag", "benchmark")
		if exit != cli.ExitError || !strings.HasPrefix(stderr, `error: shared tag "benchmark" of flow "research_agent" is on versions 1 and 2`) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
		// The hint works: the same command with the flag it names.
		if d := itemOf[registry.Deployment](t, "flow deployments get", mustKitaru(t, "flow", "deployments", "get", "research_agent", "--version", "2", "-o", "json")); d.Version != 2 {
			t.Errorf("deployment %+v", d)
		}
		exit, _, stderr = kitaru(t, "invoke", "research_agent", "--tag", "benchmark")
		if exit != cli.ExitError || !strings.Contains(stderr, "pass --version 1 or --version 2 instead of --tag") {
			t.Errorf("invoke: exit %d, stderr %q", exit, stderr)
		}
	})
	t.Run("delete of a version holding an exclusive tag is a conflict", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "deployments", "delete", "research_agent", "--version", "1", "-o", "json")
		if e := errorOf(t, "flow deployments delete", stderr); exit != cli.ExitError || e.Code != registry.CodeConflict {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
	t.Run("delete removes a version and its shared tags", func(t *testing.T) {
		mustKitaru(t, "flow", "tag", "research_agent", "default", "--version", "2")
		out := mustKitaru(t, "flow", "deployments", "delete", "research_agent", "--version", "1")
		if out != "Deleted research_agent version 1\n" {
			t.Errorf("stdout %q", out)
		}
		item := itemOf[registry.FlowSummary](t, "flow show", mustKitaru(t, "flow", "show", "research_agent", "-o", "json"))
		if !slices.Equal(item.Tags["benchmark"], []int{2}) || item.DeploymentCount != 1 {
			t.Errorf("after delete: %+v", item)
		}
	})
	t.Run("delete -o json names the deleted version", func(t *testing.T) {
		mustKitaru(t, "deploy", target, "--tag", "trial", "--input", `{"topic": "durable agents"}`)
		item := itemOf[map[string]any](t, "flow deployments delete", mustKitaru(t, "flow", "deployments", "delete", "research_agent", "--version", "3", "-o", "json"))
		if diff := cmp.Diff(map[string]any{"flow": "research_agent", "version": 3.0}, item); diff != "" {
			t.Errorf("item (-want +got):\n%s", diff)
		}
	})
	t.Run("delete of a missing version is not_found", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "flow", "deployments", "delete", "research_agent", "--version", "7", "-o", "json")
		if e := errorOf(t, "flow deployments delete", stderr); exit != cli.ExitError || stdout != "" || e.Code != registry.CodeNotFound {
			t.Errorf("exit %d, stdout %q, error %+v", exit, stdout, e)
		}
	})
}

func TestFlowCommandsRefuseAMissingFlow(t *testing.T) {
	startKitaruDev(t)
	for _, tt := range []struct{ command, args string }{
		{"flow show", "nope"},
		{"flow deployments list", "nope"},
		{"flow deployments get", "nope"},
		{"flow deployments get", "nope --version 1"},
		{"flow tag", "nope stable --version 1"},
	} {
		args := append(strings.Fields(tt.command), strings.Fields(tt.args)...)
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, append(args, "-o", "json")...)
			if e := errorOf(t, tt.command, stderr); exit != cli.ExitError || stdout != "" || e.Code != registry.CodeNotFound {
				t.Errorf("exit %d, stdout %q, error %+v", exit, stdout, e)
			}
			exit, _, stderr = kitaru(t, args...)
			if exit != cli.ExitError || !strings.HasPrefix(stderr, "error: ") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stderr %q", exit, stderr)
			}
		})
	}
}

func TestFlowAndExecutionCommandsWithoutAConnection(t *testing.T) {
	t.Setenv("KITARU_CONFIG_DIR", t.TempDir())
	t.Setenv("KITARU_SERVER_URL", "")
	t.Setenv("KITARU_AUTH_TOKEN", "")
	t.Setenv("KITARU_PROJECT", "")
	for _, tt := range []struct{ command, args string }{
		{"flow list", ""},
		{"flow show", "research_agent"},
		{"flow tag", "research_agent stable --version 2"},
		{"flow untag", "research_agent stable --version 2"},
		{"flow rollback", "research_agent stable"},
		{"flow history", "research_agent stable"},
		{"flow deployments list", "research_agent"},
		{"flow deployments get", "research_agent"},
		{"flow deployments delete", "research_agent --version 1"},
		{"flow delete", "research_agent --force"},
		{"executions get", "ex_1"},
		{"executions wait", "ex_1"},
		{"executions cancel", "ex_1"},
		{"executions list", "research_agent"},
	} {
		args := append(strings.Fields(tt.command), strings.Fields(tt.args)...)
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, args...)
			if exit != cli.ExitError || stdout != "" || !strings.HasPrefix(stderr, "error: no Kitaru server") || strings.Count(stderr, "\n") != 1 {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and one line naming what to set", exit, stdout, stderr)
			}
			exit, _, stderr = kitaru(t, append(args, "-o", "json")...)
			if e := errorOf(t, tt.command, stderr); exit != cli.ExitError || e.Code != registry.CodePreconditionFailed {
				t.Errorf("exit %d, error %+v", exit, e)
			}
		})
	}
}

func TestFlowUsageErrorsSendNothing(t *testing.T) {
	tests := []usageCase{
		{"tag without --version", []string{"flow", "tag", "f", "stable"}, "--version N"},
		{"untag without --version", []string{"flow", "untag", "f", "stable"}, "--version N"},
		{"delete without --version", []string{"flow", "deployments", "delete", "f"}, "--version N"},
		{"a version below 1", []string{"flow", "tag", "f", "stable", "--version", "0"}, "versions start at 1"},
		{"get with both --tag and --version", []string{"flow", "deployments", "get", "f", "--tag", "stable", "--version", "2"}, "either --tag or --version"},
		{"tag without a tag name", []string{"flow", "tag", "f", "--version", "1"}, "accepts 2 arg"},
		{"show without a flow", []string{"flow", "show"}, "accepts 1 arg"},
		{"a negative limit", []string{"flow", "list", "--limit", "-1"}, "--limit -1 is invalid"},
		{"an unknown output format", []string{"flow", "list", "-o", "yaml"}, "text or json"},
		{"bad inputs to invoke", []string{"invoke", "f", "--input", `[1]`}, "JSON object"},
		{"wait with a zero timeout", []string{"executions", "wait", "ex_1", "--timeout", "0s"}, "positive"},
		{"executions list without a flow", []string{"executions", "list"}, "accepts 1 arg"},
	}
	assertUsageErrors(t, tests)
}

func TestCompletionOffersFlowsAndTagsFromTheServer(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"a flow argument offers the project's flows", []string{"flow", "show", ""}, []string{"research_agent"}},
		{"a tag argument offers the flow's tags", []string{"flow", "rollback", "research_agent", ""}, []string{"canary", "default"}},
		{"--tag offers the flow's tags", []string{"flow", "deployments", "get", "research_agent", "--tag", ""}, []string{"canary", "default"}},
		{"-o offers the formats", []string{"flow", "list", "-o", ""}, []string{"text", "json"}},
		{"executions list offers flows", []string{"executions", "list", ""}, []string{"research_agent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := mustKitaru(t, append([]string{"__complete"}, tt.args...)...)
			if diff := cmp.Diff(tt.want, completions(out)); diff != "" {
				t.Errorf("completions (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("without a connection completion offers nothing and says nothing", func(t *testing.T) {
		t.Setenv("KITARU_SERVER_URL", "")
		t.Setenv("KITARU_AUTH_TOKEN", "")
		exit, stdout, stderr := kitaru(t, "__complete", "flow", "show", "")
		if exit != cli.ExitOK || len(completions(stdout)) != 0 || strings.Contains(stderr, "rror") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
	})
	t.Run("an unreachable server offers nothing and says nothing", func(t *testing.T) {
		t.Setenv("KITARU_SERVER_URL", "http://127.0.0.1:1")
		exit, stdout, stderr := kitaru(t, "__complete", "flow", "show", "")
		if exit != cli.ExitOK || len(completions(stdout)) != 0 || strings.Contains(stderr, "rror") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
	})
}

// completions are the offered words of cobra's __complete output, which
// ends with a ":<directive>" line.
func completions(out string) []string {
	var words []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ":") {
			continue
		}
		words = append(words, strings.SplitN(line, "\t", 2)[0])
	}
	return words
}

func TestFlowAndExecutionsHelpNamesTheConnectionSettings(t *testing.T) {
	for _, command := range []string{"flow list", "flow show", "flow tag", "flow untag", "flow rollback", "flow history",
		"flow deployments list", "flow deployments get", "flow deployments delete", "flow delete",
		"executions get", "executions wait", "executions cancel", "executions list"} {
		t.Run(command, func(t *testing.T) {
			exit, stdout, _ := kitaru(t, append(strings.Fields(command), "--help")...)
			for _, want := range []string{"KITARU_SERVER_URL", "kitaru info", "-o, --output"} {
				if exit != cli.ExitOK || !strings.Contains(stdout, want) {
					t.Errorf("exit %d, help %q lacks %q", exit, stdout, want)
				}
			}
		})
	}
}

// TestFlowShowAndListMakeOneRequest: the summary says which tags are
// exclusive, so neither command reads a deployment per tag.
func TestFlowShowAndListMakeOneRequest(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t)
	mustKitaru(t, "flow", "tag", "research_agent", "stable", "--version", "2", "--exclusive")
	mustKitaru(t, "flow", "tag", "research_agent", "benchmark", "--version", "1")
	mustKitaru(t, "flow", "tag", "research_agent", "nightly", "--version", "2")

	requests := recordRequests(t)
	for _, args := range [][]string{{"flow", "show", "research_agent"}, {"flow", "list"}} {
		requests.take()
		out := mustKitaru(t, args...)
		if got := requests.take(); len(got) != 1 {
			t.Errorf("kitaru %s made requests %q; want 1", strings.Join(args, " "), got)
		}
		for _, want := range []string{"stable*", "canary*", "default*", "benchmark", "nightly"} {
			if !strings.Contains(out, want) {
				t.Errorf("kitaru %s: output lacks %q:\n%s", strings.Join(args, " "), want, out)
			}
		}
		if strings.Contains(out, "benchmark*") || strings.Contains(out, "nightly*") {
			t.Errorf("kitaru %s marks a shared tag exclusive:\n%s", strings.Join(args, " "), out)
		}
	}
}
