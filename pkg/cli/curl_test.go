package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestFlowDeploymentsCurlUsageErrors(t *testing.T) {
	isolate(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	t.Setenv(client.EnvServerURL, srv.URL)
	t.Setenv(client.EnvAuthToken, fakeAPIKey)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a tag and a version", []string{"research_agent", "--tag", "stable", "--version", "2"}, "either --tag or --version"},
		{"inputs that are an array", []string{"research_agent", "--input", `[1, 2]`}, "JSON object"},
		{"inputs that are a string", []string{"research_agent", "--input", `"topic"`}, "JSON object"},
		{"inputs that are not JSON", []string{"research_agent", "--input", `{topic}`}, "not valid JSON"},
		{"version zero", []string{"research_agent", "--version", "0"}, "versions start at 1"},
		{"following the route of a version", []string{"research_agent", "--version", "2", "--follow-route"}, "--follow-route follows a tag"},
		{"a flow name with shell syntax", []string{"x$(id)"}, "flow name"},
		{"a tag with a quote", []string{"research_agent", "--tag", "it's"}, "tag name"},
		{"no flow", nil, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" exits 2 before any request", func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, append([]string{"flow", "deployments", "curl"}, tt.args...)...)
			if exit != 2 || stdout != "" || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stdout %q, stderr %q (want exit 2 and %q)", exit, stdout, stderr, tt.want)
			}
		})
	}
}

// curlFixture is kitaru dev with research_agent version 1 (default) and
// version 2 (canary), and the CLI's connection pointing at it.
type curlFixture struct {
	srv *devstack.Server
	// env runs generated commands with a fake kitaru that prints the API
	// key (a valid bearer) for "kitaru auth token".
	env []string
}

func newCurlFixture(t *testing.T) curlFixture {
	t.Helper()
	for _, tool := range []string{"bash", "curl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
	isolate(t)
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv(client.EnvServerURL, srv.URL())
	t.Setenv(client.EnvAuthToken, srv.APIKey())
	t.Setenv(client.EnvProject, devstack.Project)
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "research"))
	target := filepath.Join(root, "flows", "research.py") + ":research_agent"
	for _, args := range [][]string{
		{"deploy", target, "--input", `{"topic": "durable agents"}`},
		{"deploy", target, "--tag", "canary", "--exclusive", "--input", `{"topic": "durable agents"}`},
	} {
		if exit, _, stderr := kitaru(t, args...); exit != 0 {
			t.Fatalf("kitaru %s: exit %d: %s", strings.Join(args, " "), exit, stderr)
		}
	}
	bin := t.TempDir()
	fake := "#!/bin/sh\n[ \"$1 $2\" = 'auth token' ] || { echo \"fake kitaru: $*\" >&2; exit 2; }\nprintf '%s\\n' " + client.ShellQuote(srv.APIKey()) + "\n"
	if err := os.WriteFile(filepath.Join(bin, "kitaru"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return curlFixture{srv: srv, env: env}
}

// bash pipes script into bash, as "kitaru flow deployments curl … | bash".
func (f curlFixture) bash(t *testing.T, script string) string {
	t.Helper()
	sh := exec.Command("bash")
	sh.Stdin = strings.NewReader(script)
	sh.Env = f.env
	out, err := sh.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("bash: %v: %s\nstdout: %s\nscript:\n%s", err, ee.Stderr, out, script)
		}
		t.Fatal(err)
	}
	return string(out)
}

func TestFlowDeploymentsCurlPipedToBash(t *testing.T) {
	f := newCurlFixture(t)
	pwned := filepath.Join(t.TempDir(), "pwned")
	topic := `it's "quoted" $(touch ` + pwned + ") `touch " + pwned + "`"
	input, err := json.Marshal(map[string]string{"topic": topic})
	if err != nil {
		t.Fatal(err)
	}

	exit, stdout, stderr := kitaru(t, "flow", "deployments", "curl", "research_agent", "--tag", "canary", "--input", string(input))
	if exit != 0 {
		t.Fatalf("exit %d: %s", exit, stderr)
	}
	t.Run("the text is comments saying what the tag resolved to, then the command", func(t *testing.T) {
		lines := strings.Split(stdout, "\n")
		if !strings.HasPrefix(lines[0], "# research_agent: tag canary resolved to version 2") ||
			!strings.HasPrefix(lines[1], "# The command stays pinned to version 2") ||
			!strings.HasPrefix(lines[2], "curl ") {
			t.Errorf("output:\n%s", stdout)
		}
		if strings.Contains(stdout, f.srv.APIKey()) {
			t.Errorf("the output holds the API key:\n%s", stdout)
		}
	})
	t.Run("piped to bash, it starts version 2 with the exact inputs and runs nothing", func(t *testing.T) {
		var e registry.Execution
		if err := json.Unmarshal([]byte(f.bash(t, stdout)), &e); err != nil {
			t.Fatal(err)
		}
		if e.Version != 2 || e.Selector.Version != 2 {
			t.Errorf("started version %d (selector %v), want 2", e.Version, e.Selector)
		}
		var got struct{ Topic string }
		if err := json.Unmarshal(e.Inputs, &got); err != nil || got.Topic != topic {
			t.Errorf("topic %q (%v), want %q", got.Topic, err, topic)
		}
		if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the command ran a substitution: %s exists", pwned)
		}
	})
}

func TestFlowDeploymentsCurlJSON(t *testing.T) {
	f := newCurlFixture(t)
	exit, stdout, stderr := kitaru(t, "flow", "deployments", "curl", "research_agent", "--tag", "canary", "--follow-route", "-o", "json")
	if exit != 0 {
		t.Fatalf("exit %d: %s", exit, stderr)
	}
	var env struct {
		Command string
		Item    struct {
			URL             string `json:"url"`
			Body            string `json:"body"`
			TokenCommand    string `json:"token_command"`
			ResolvedVersion int    `json:"resolved_version"`
			Tag             string `json:"tag"`
			Pinned          *bool  `json:"pinned"`
			Command         string `json:"command"`
		}
	}
	if err := json.Unmarshal([]byte(stdout), &env); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	it := env.Item
	if env.Command != "flow deployments curl" || it.URL != f.srv.URL()+"/v1/flows/research_agent/invocations" ||
		it.Body != `{"tag":"canary"}` || it.TokenCommand != "kitaru auth token" || it.ResolvedVersion != 2 ||
		it.Tag != "canary" || it.Pinned == nil || *it.Pinned || !strings.Contains(it.Command, "follows the tag") {
		t.Fatalf("envelope %+v", env)
	}
	var e registry.Execution
	if err := json.Unmarshal([]byte(f.bash(t, it.Command)), &e); err != nil || e.Version != 2 || e.Selector.Tag != "canary" {
		t.Fatalf("the item's command started %+v (%v), want canary's version 2", e, err)
	}
}

func TestFlowDeploymentsCurlServerRefusals(t *testing.T) {
	newCurlFixture(t)
	tests := []struct {
		name string
		args []string
		code registry.Code
	}{
		{"a tag that routes nowhere", []string{"research_agent", "--tag", "stable"}, registry.CodeNotFound},
		{"a flow never deployed", []string{"other_flow"}, registry.CodeNotFound},
		{"a version that does not exist", []string{"research_agent", "--version", "9"}, registry.CodeNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name+" exits 1 with the code", func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, append([]string{"flow", "deployments", "curl", "-o", "json"}, tt.args...)...)
			var env struct {
				Command string
				Error   struct{ Code registry.Code }
			}
			if err := json.Unmarshal([]byte(stderr), &env); err != nil {
				t.Fatalf("%v: %s", err, stderr)
			}
			if exit != 1 || stdout != "" || env.Error.Code != tt.code || env.Command != "flow deployments curl" {
				t.Fatalf("exit %d, stdout %q, stderr %s", exit, stdout, stderr)
			}
		})
	}
}
