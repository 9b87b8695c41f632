package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

func running() registry.Execution {
	return registry.Execution{ExecID: fakeExecID, Flow: "research_agent", Version: 2, Status: registry.StatusRunning}
}

func ended(status registry.ExecStatus, change func(*registry.Execution)) registry.Execution {
	e := running()
	e.Status = status
	now := time.Now()
	e.EndedAt = &now
	if change != nil {
		change(&e)
	}
	return e
}

func TestInvokeSendsTheSelectorAndInputs(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantBody   map[string]string // field → JSON
		wantHeader map[string]string
		wantOut    string
	}{
		{
			name:     "a tag with inputs and an idempotency key",
			args:     []string{"invoke", "research_agent", "--tag", "stable", "--input", `{"topic": "routing"}`, "--idempotency-key", "req-7"},
			wantBody: map[string]string{"tag": `"stable"`, "inputs": `{"topic":"routing"}`}, wantHeader: map[string]string{"Idempotency-Key": "req-7"},
			wantOut: "Started execution " + fakeExecID + " of research_agent version 2 (tag stable): running\n",
		},
		{
			name:     "a pinned version",
			args:     []string{"invoke", "research_agent", "--version", "3"},
			wantBody: map[string]string{"version": "3"},
			wantOut:  "Started execution " + fakeExecID + " of research_agent version 3 (version 3): running\n",
		},
		{
			name:     "neither tag nor version leaves the default tag to the server",
			args:     []string{"invoke", "research_agent"},
			wantBody: map[string]string{},
			wantOut:  "(tag default): running",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKitaru(t)
			exit, stdout, stderr := kitaru(t, tt.args...)
			if exit != cli.ExitOK || !strings.Contains(stdout, tt.wantOut) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want %q", exit, stdout, stderr, tt.wantOut)
			}
			reqs := f.only("POST", "/v1/flows/research_agent/invocations")
			if len(reqs) != 1 {
				t.Fatalf("requests %v", f.seen())
			}
			got := map[string]string{}
			for k, v := range reqs[0].Body {
				got[k] = string(v)
			}
			if len(got) != len(tt.wantBody) {
				t.Errorf("body %v, want %v", got, tt.wantBody)
			}
			for k, v := range tt.wantBody {
				if got[k] != v {
					t.Errorf("body %s = %s, want %s", k, got[k], v)
				}
			}
			for k, v := range tt.wantHeader {
				if h := reqs[0].Header.Get(k); h != v {
					t.Errorf("header %s = %q, want %q", k, h, v)
				}
			}
		})
	}
}

func TestInvokeSendsTheConnectionSettings(t *testing.T) {
	f := newFakeKitaru(t)
	t.Setenv("KITARU_AUTH_TOKEN", "kat_abc123")
	t.Setenv("KITARU_PROJECT", "production")
	if exit, _, stderr := kitaru(t, "invoke", "research_agent"); exit != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", exit, stderr)
	}
	h := f.seen()[0].Header
	if h.Get("Authorization") != "Bearer kat_abc123" || h.Get("X-Kitaru-Project") != "production" {
		t.Errorf("headers %v", h)
	}
}

func TestInvokeUsageErrors(t *testing.T) {
	tests := []usageCase{
		{"a tag and a version together", []string{"invoke", "f", "--tag", "stable", "--version", "2"}, "either --tag or --version"},
		{"a version below 1", []string{"invoke", "f", "--version", "0"}, "versions start at 1"},
		{"inputs that are not an object", []string{"invoke", "f", "--input", `"topic"`}, "JSON object"},
		{"a timeout without --wait", []string{"invoke", "f", "--timeout", "1m"}, "--timeout needs --wait"},
		{"a zero timeout", []string{"invoke", "f", "--wait", "--timeout", "0s"}, "positive"},
		{"an unknown output format", []string{"invoke", "f", "-o", "yaml"}, "text or json"},
		{"no flow", []string{"invoke"}, "accepts 1 arg"},
	}
	assertUsageErrors(t, tests)
}

func TestInvokeWait(t *testing.T) {
	tests := []struct {
		name       string
		executions []registry.Execution
		args       []string
		wantExit   int
		wantStdout string
		wantStderr []string
		notStderr  []string
	}{
		{
			name:       "a completed execution prints its result alone on stdout",
			executions: []registry.Execution{running(), ended(registry.StatusCompleted, func(e *registry.Execution) { e.Result = json.RawMessage(`{"summary":"done"}`) })},
			wantExit:   cli.ExitOK, wantStdout: "{\n  \"summary\": \"done\"\n}\n",
			wantStderr: []string{"Started execution " + fakeExecID, "waiting"},
		},
		{
			name: "a completed execution with a stored result names it",
			executions: []registry.Execution{ended(registry.StatusCompleted, func(e *registry.Execution) {
				e.ResultRef = "results/default/" + fakeExecID + ".json"
			})},
			wantExit: cli.ExitOK, wantStdout: "stored as results/default/" + fakeExecID + ".json",
		},
		{
			name: "a failed execution shows the error type, message and the user's traceback indented below it, and exits 1",
			executions: []registry.Execution{ended(registry.StatusFailed, func(e *registry.Execution) {
				e.Error = &registry.ExecError{Type: "ValueError", Message: "topic is empty", Traceback: "Traceback (most recent call last):\n  File \"flows/research.py\", line 4\nValueError: topic is empty\n",
					Details: map[string]any{registry.DetailRunnerTraceback: "Traceback (most recent call last):\n  File \"/var/task/runner.py\", line 812\n  File \"flows/research.py\", line 4\nValueError: topic is empty\n"}}
			})},
			wantExit: cli.ExitError,
			wantStderr: []string{"error: execution " + fakeExecID + " failed: ValueError: topic is empty\n" +
				"  Traceback (most recent call last):\n    File \"flows/research.py\", line 4\n  ValueError: topic is empty\n" +
				"  (the runner's full traceback: kitaru executions get " + fakeExecID + " -o json, at error.details.runner_traceback)\n"},
			notStderr: []string{"runner.py"},
		},
		{
			name: "a failure with only the runner's traceback shows that one",
			executions: []registry.Execution{ended(registry.StatusFailed, func(e *registry.Execution) {
				e.Error = &registry.ExecError{Type: "Runner.Crashed", Message: "the runner died",
					Details: map[string]any{registry.DetailRunnerTraceback: "Traceback (most recent call last):\n  File \"/var/task/runner.py\", line 812\nMemoryError\n"}}
			})},
			wantExit: cli.ExitError,
			wantStderr: []string{"error: execution " + fakeExecID + " failed: Runner.Crashed: the runner died\n" +
				"  Traceback (most recent call last):\n    File \"/var/task/runner.py\", line 812\n  MemoryError\n"},
			notStderr: []string{"error.details.runner_traceback"},
		},
		{
			name:       "a cancelled execution exits 1",
			executions: []registry.Execution{ended(registry.StatusCancelled, nil)},
			wantExit:   cli.ExitError, wantStderr: []string{"error: execution " + fakeExecID + " was cancelled"},
		},
		{
			name:       "an execution still running at the timeout exits 1 saying how to check it",
			executions: []registry.Execution{running()},
			args:       []string{"--timeout", "700ms"},
			wantExit:   cli.ExitError,
			wantStderr: []string{"execution " + fakeExecID + " is still running after 700ms", "curl -s http://127.0.0.1:", "/v1/executions/" + fakeExecID, `-H "Authorization: Bearer $KITARU_AUTH_TOKEN"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKitaru(t)
			t.Setenv("KITARU_AUTH_TOKEN", "kat_secret_value")
			f.executions = tt.executions
			exit, stdout, stderr := kitaru(t, append([]string{"invoke", "research_agent", "--wait"}, tt.args...)...)
			if exit != tt.wantExit {
				t.Errorf("exit %d, want %d; stderr %q", exit, tt.wantExit, stderr)
			}
			if !strings.Contains(stdout, tt.wantStdout) || (tt.wantStdout == "" && stdout != "") {
				t.Errorf("stdout %q, want %q", stdout, tt.wantStdout)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
			for _, unwanted := range tt.notStderr {
				if strings.Contains(stderr, unwanted) {
					t.Errorf("stderr %q has %q", stderr, unwanted)
				}
			}
			if strings.Contains(stdout+stderr, "kat_secret_value") {
				t.Errorf("the token's value was printed")
			}
			if n := len(f.only("GET", "/v1/executions/"+fakeExecID)); n == 0 {
				t.Error("the execution was never polled")
			}
		})
	}
}

func TestInvokeJSONOutput(t *testing.T) {
	type output struct {
		Command string              `json:"command"`
		Item    *registry.Execution `json:"item"`
		Error   *api.ErrorDetail    `json:"error"`
	}
	decode := func(t *testing.T, s string) output {
		t.Helper()
		var o output
		if err := json.Unmarshal([]byte(s), &o); err != nil {
			t.Fatalf("output %q: %v", s, err)
		}
		return o
	}
	t.Run("without --wait the started execution is the item", func(t *testing.T) {
		newFakeKitaru(t)
		exit, stdout, _ := kitaru(t, "invoke", "research_agent", "-o", "json")
		if o := decode(t, stdout); exit != cli.ExitOK || o.Command != "invoke" || o.Item.ExecID != fakeExecID || o.Item.Status != registry.StatusRunning {
			t.Errorf("exit %d, output %+v", exit, o)
		}
	})
	t.Run("with --wait the ended execution is the item and a failure exits 1", func(t *testing.T) {
		f := newFakeKitaru(t)
		f.executions = []registry.Execution{ended(registry.StatusFailed, func(e *registry.Execution) { e.Error = &registry.ExecError{Type: "KeyError", Message: "x"} })}
		exit, stdout, _ := kitaru(t, "invoke", "research_agent", "--wait", "-o", "json")
		if o := decode(t, stdout); exit != cli.ExitError || o.Item.Status != registry.StatusFailed || o.Item.Error.Type != "KeyError" {
			t.Errorf("exit %d, output %+v", exit, o)
		}
	})
	t.Run("a timeout puts a still_running error on stderr", func(t *testing.T) {
		f := newFakeKitaru(t)
		f.executions = []registry.Execution{running()}
		exit, _, stderr := kitaru(t, "invoke", "research_agent", "--wait", "--timeout", "300ms", "-o", "json")
		if o := decode(t, stderr); exit != cli.ExitError || o.Error == nil || o.Error.Code != "still_running" || o.Error.Details["exec_id"] != fakeExecID {
			t.Errorf("exit %d, stderr %+v", exit, o)
		}
	})
	t.Run("a server error is the error envelope on stderr", func(t *testing.T) {
		f := newFakeKitaru(t)
		f.failAll(404, registry.CodeNotFound, `flow "research_agent" has no deployments; deploy it first`)
		exit, stdout, stderr := kitaru(t, "invoke", "research_agent", "-o", "json")
		o := decode(t, stderr)
		if exit != cli.ExitError || stdout != "" || o.Command != "invoke" || o.Error.Code != registry.CodeNotFound || !strings.Contains(o.Error.Message, "no deployments") {
			t.Errorf("exit %d, stdout %q, stderr %+v", exit, stdout, o)
		}
	})
}

func TestInvokeShowsServerErrors(t *testing.T) {
	f := newFakeKitaru(t)
	f.failAll(404, registry.CodeNotFound, `flow "research_agent" has no tag "stable"; the flow's summary lists its tags`)
	exit, _, stderr := kitaru(t, "invoke", "research_agent", "--tag", "stable")
	if exit != cli.ExitError || stderr != "error: flow \"research_agent\" has no tag \"stable\"; the flow's summary lists its tags\n" {
		t.Errorf("exit %d, stderr %q", exit, stderr)
	}
}

func TestInvokeTellsHowToStartAServer(t *testing.T) {
	t.Setenv("KITARU_CONFIG_DIR", t.TempDir())
	t.Setenv("KITARU_SERVER_URL", "http://127.0.0.1:1")
	t.Setenv("KITARU_AUTH_TOKEN", fakeAPIKey)
	t.Setenv("KITARU_PROJECT", fakeProject)
	exit, _, stderr := kitaru(t, "invoke", "research_agent")
	if exit != cli.ExitError || !strings.Contains(stderr, "cannot reach the Kitaru server at http://127.0.0.1:1") || !strings.Contains(stderr, "kitaru dev") {
		t.Errorf("exit %d, stderr %q", exit, stderr)
	}
}

func TestHelpNamesTheConnectionSettings(t *testing.T) {
	for _, command := range []string{"deploy", "invoke", "status", "auth token"} {
		t.Run(command, func(t *testing.T) {
			exit, stdout, _ := kitaru(t, append(strings.Fields(command), "--help")...)
			for _, want := range []string{"kitaru login", "KITARU_SERVER_URL", "KITARU_AUTH_TOKEN", "KITARU_PROJECT", "kitaru info"} {
				if exit != cli.ExitOK || !strings.Contains(stdout, want) {
					t.Errorf("exit %d, help %q lacks %q", exit, stdout, want)
				}
			}
		})
	}
}

// usageCase is a command line that must be refused as a usage error.
type usageCase struct {
	name    string
	args    []string
	wantErr string
}

// assertUsageErrors checks each case exits 2 mentioning wantErr and sends
// no request to the server.
func assertUsageErrors(t *testing.T, tests []usageCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKitaru(t)
			exit, _, stderr := kitaru(t, tt.args...)
			if exit != cli.ExitUsage || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", exit, stderr, cli.ExitUsage, tt.wantErr)
			}
			if n := len(f.seen()); n != 0 {
				t.Errorf("%d requests were sent; want none", n)
			}
		})
	}
}

func TestInvokeWaitSaysWhenTheServerStopsAnswering(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"in text", nil},
		{"with -o json", []string{"-o", "json"}},
	} {
		t.Run(tt.name+" the wait ends with an error naming the server and how to check the execution", func(t *testing.T) {
			f := newFakeKitaru(t)
			f.executions = []registry.Execution{{ExecID: fakeExecID, Flow: "research_agent", Version: 2, Status: registry.StatusRunning}}
			f.afterInvoke = func() { go f.Close() } // Close waits for this handler to return
			exit, stdout, stderr := kitaru(t, append([]string{"invoke", "research_agent", "--wait", "--timeout", "10m"}, tt.args...)...)
			want := fmt.Sprintf("the server at %s stopped answering; the execution %s may still be running: kitaru executions get %s", f.URL, fakeExecID, fakeExecID)
			if exit != cli.ExitError || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1", exit, stdout, stderr)
			}
			if tt.args == nil {
				if !strings.HasSuffix(stderr, "error: "+want+"\n") {
					t.Errorf("stderr %q; want it to end with %q", stderr, want)
				}
				return
			}
			if e := errorOf(t, "invoke", stderr); e.Code != registry.CodeUnavailable || e.Message != want || e.Details["exec_id"] != fakeExecID {
				t.Errorf("error %+v; want code unavailable and %q", e, want)
			}
		})
	}
}
