package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

// deployBehaviours deploys the behaviours project's sleeps and fails flows.
func deployBehaviours(t *testing.T) {
	t.Helper()
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "behaviours"))
	file := filepath.Join(root, "flows", "behaviours.py")
	mustKitaru(t, "deploy", file+":sleeps", "--input", `{"seconds": 30}`)
	mustKitaru(t, "deploy", file+":fails", "--input", `{"message": "the flow failed on purpose"}`)
}

// invokeID starts an execution with kitaru invoke and returns its id.
func invokeID(t *testing.T, args ...string) string {
	t.Helper()
	e := itemOf[registry.Execution](t, "invoke", mustKitaru(t, append(append([]string{"invoke"}, args...), "-o", "json")...))
	return e.ExecID
}

func TestExecutionsOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t)
	deployBehaviours(t)
	done := invokeID(t, "research_agent", "--tag", "canary", "--input", `{"topic": "deployment routing"}`)
	failed := invokeID(t, "fails", "--input", `{"message": "boom"}`)

	t.Run("wait prints the result alone on stdout and is quiet when not a terminal", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "executions", "wait", done)
		if exit != cli.ExitOK || stdout != "\"research notes on deployment routing\"\n" || stderr != "" {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
	})
	t.Run("wait -o json is the ended execution", func(t *testing.T) {
		e := itemOf[registry.Execution](t, "executions wait", mustKitaru(t, "executions", "wait", done, "-o", "json"))
		if e.ExecID != done || e.Status != registry.StatusCompleted || string(e.Result) != `"research notes on deployment routing"` {
			t.Errorf("execution %+v", e)
		}
	})
	t.Run("wait on a failed execution shows its error and traceback and exits 1", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "executions", "wait", failed)
		if exit != cli.ExitError || stdout != "" || !strings.HasPrefix(stderr, "error: execution "+failed+" failed: ValueError: boom\n  Traceback (most recent call last):\n    File \"flows/behaviours.py\"") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		exit, stdout, _ = kitaru(t, "executions", "wait", failed, "-o", "json")
		if e := itemOf[registry.Execution](t, "executions wait", stdout); exit != cli.ExitError || e.Status != registry.StatusFailed || e.Error.Type != "ValueError" {
			t.Errorf("exit %d, execution %+v", exit, e)
		}
	})
	t.Run("get shows the execution in text and JSON", func(t *testing.T) {
		out := mustKitaru(t, "executions", "get", done)
		for _, want := range []string{"Execution:   " + done, "Flow:        research_agent version 2 (tag canary)", "Status:      completed", `Inputs:      {"topic":"deployment routing"}`, `Result:      "research notes on deployment routing"`} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		e := itemOf[registry.Execution](t, "executions get", mustKitaru(t, "executions", "get", failed, "-o", "json"))
		if e.ExecID != failed || e.Status != registry.StatusFailed || e.Error == nil || e.Error.Message != "boom" {
			t.Errorf("execution %+v", e)
		}
		if full, _ := e.Error.Details[registry.DetailRunnerTraceback].(string); !strings.Contains(full, "runner.py") || strings.Contains(e.Error.Traceback, "runner.py") {
			t.Errorf("JSON error %+v; want the user's traceback and details.runner_traceback with the runner's frames", e.Error)
		}
		out = mustKitaru(t, "executions", "get", failed)
		want := "Error:       ValueError: boom\n  Traceback (most recent call last):\n    File \"flows/behaviours.py\", line 18, in fails\n"
		if !strings.Contains(out, want) || strings.Contains(out, "runner.py") || !strings.Contains(out, "error.details.runner_traceback") {
			t.Errorf("stdout %q; want %q, the runner's frames left out and where to read them", out, want)
		}
	})
	t.Run("get of a missing execution is not_found", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "executions", "get", "ex_nope", "-o", "json")
		if e := errorOf(t, "executions get", stderr); exit != cli.ExitError || stdout != "" || e.Code != registry.CodeNotFound {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})

	sleeping := invokeID(t, "sleeps")
	t.Run("wait past --timeout exits 1 saying how to check later", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "executions", "wait", sleeping, "--timeout", "300ms")
		if exit != cli.ExitError || stdout != "" || !strings.Contains(stderr, "is still running after 300ms") || !strings.Contains(stderr, "kitaru executions wait "+sleeping) {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		exit, _, stderr = kitaru(t, "executions", "wait", sleeping, "--timeout", "300ms", "-o", "json")
		if e := errorOf(t, "executions wait", stderr); exit != cli.ExitError || e.Code != "still_running" || e.Details["exec_id"] != sleeping {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
	t.Run("cancel stops a running execution", func(t *testing.T) {
		out := mustKitaru(t, "executions", "cancel", sleeping)
		if out != "Cancelled execution "+sleeping+" of sleeps version 1: cancelled\n" {
			t.Errorf("stdout %q", out)
		}
		other := invokeID(t, "sleeps")
		e := itemOf[registry.Execution](t, "executions cancel", mustKitaru(t, "executions", "cancel", other, "-o", "json"))
		if e.ExecID != other || e.Status != registry.StatusCancelled {
			t.Errorf("execution %+v", e)
		}
	})
	t.Run("wait on a cancelled execution exits 1", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "executions", "wait", sleeping)
		if exit != cli.ExitError || stderr != "error: execution "+sleeping+" was cancelled\n" {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
	t.Run("cancel of an ended execution is a conflict", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "executions", "cancel", done, "-o", "json")
		if e := errorOf(t, "executions cancel", stderr); exit != cli.ExitError || e.Code != registry.CodeConflict {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
	t.Run("list shows a flow's executions newest first", func(t *testing.T) {
		out := mustKitaru(t, "executions", "list", "sleeps")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "EXECUTION") || !strings.HasPrefix(lines[2], sleeping) || !strings.Contains(lines[2], "cancelled") {
			t.Errorf("stdout %q", out)
		}
		execs := itemsOf[registry.Execution](t, "executions list", mustKitaru(t, "executions", "list", "sleeps", "-o", "json"))
		if len(execs) != 2 || execs[1].ExecID != sleeping {
			t.Errorf("executions %+v", execs)
		}
		execs = itemsOf[registry.Execution](t, "executions list", mustKitaru(t, "executions", "list", "sleeps", "--limit", "1", "-o", "json"))
		if len(execs) != 1 {
			t.Errorf("%d executions with --limit 1", len(execs))
		}
	})
	t.Run("list of a flow without executions says so and is an empty list", func(t *testing.T) {
		if out := mustKitaru(t, "executions", "list", "nope"); !strings.HasPrefix(out, "Flow nope has no executions (") || !strings.Contains(out, "kitaru flow list") {
			t.Errorf("stdout %q", out)
		}
		// Filters that match nothing are named, not taken for an empty flow.
		if out := mustKitaru(t, "executions", "list", "sleeps", "--tag", "never", "--since", "1h"); out != "No execution of flow sleeps matches --tag never --since 1h. Without them: kitaru executions list sleeps\n" {
			t.Errorf("stdout %q", out)
		}
		if execs := itemsOf[registry.Execution](t, "executions list", mustKitaru(t, "executions", "list", "nope", "-o", "json")); len(execs) != 0 {
			t.Errorf("executions %+v", execs)
		}
	})
}
