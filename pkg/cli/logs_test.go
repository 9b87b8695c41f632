package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestExecutionLogsOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "behaviours"))
	file := filepath.Join(root, "flows", "behaviours.py")
	mustKitaru(t, "deploy", file+":ticks", "--input", `{"count": 6, "every": 0.4}`)
	mustKitaru(t, "deploy", file+":breaks_mid_line", "--tag", "nightly")
	ticks := "tick 0\ntick 1\ntick 2\ntick 3\ntick 4\ntick 5\n"

	t.Run("logs --follow prints the log as it grows until the execution ends", func(t *testing.T) {
		id := invokeID(t, "ticks")
		exit, stdout, stderr := kitaru(t, "executions", "logs", id, "--follow")
		if exit != cli.ExitOK || !strings.Contains(stdout, ticks) || !strings.HasSuffix(stdout, "s\n") || !strings.Contains(stdout, "[kitaru] completed in") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		if stderr != "Execution "+id+" completed.\n" {
			t.Errorf("stderr %q", stderr)
		}
		// Read again without --follow, the whole log is there at once.
		if _, again, _ := kitaru(t, "executions", "logs", id); again != stdout {
			t.Errorf("a second read %q differs from the followed log %q", again, stdout)
		}
	})
	t.Run("flow deployments logs reads the latest execution through a tag, -o json too", func(t *testing.T) {
		invokeID(t, "breaks_mid_line", "--tag", "nightly", "--input", `{"text": "cut sho"}`)
		kitaru(t, "executions", "wait", invokeID(t, "breaks_mid_line", "--tag", "nightly", "--input", `{"text": "newest"}`)) // it fails, on purpose
		_, stdout, _ := kitaru(t, "flow", "deployments", "logs", "breaks_mid_line", "--tag", "nightly", "-o", "json")
		log := itemOf[api.ExecutionLog](t, "flow deployments logs", stdout)
		if !log.Ended || log.Status != registry.StatusFailed || !strings.Contains(log.Data, "a whole first line\nnewest") {
			t.Errorf("log %+v", log)
		}
		exit, _, stderr := kitaru(t, "flow", "deployments", "logs", "breaks_mid_line", "--tag", "stable", "-o", "json")
		if e := errorOf(t, "flow deployments logs", stderr); exit != cli.ExitError || e.Code != registry.CodeNotFound || !strings.Contains(e.Message, "tag stable") {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
	t.Run("flow deployments logs finds the execution with one filtered list request of one item", func(t *testing.T) {
		// Newer executions that are not the route's: by version, and through default.
		v2 := invokeID(t, "breaks_mid_line", "--version", "1", "--input", `{"text": "pinned"}`)
		kitaru(t, "executions", "wait", v2)
		requests := recordRequests(t)
		_, stdout, _ := kitaru(t, "flow", "deployments", "logs", "breaks_mid_line", "--tag", "nightly")
		if !strings.Contains(stdout, "newest") {
			t.Errorf("stdout %q; want the log of the newest execution through nightly", stdout)
		}
		got := requests.take()
		if len(got) == 0 || got[0] != "GET /v1/flows/breaks_mid_line/executions?limit=1&tag=nightly" {
			t.Fatalf("requests %q; want first GET /v1/flows/breaks_mid_line/executions?limit=1&tag=nightly", got)
		}
		if len(got) != 2 || !strings.HasPrefix(got[1], "GET /v1/executions/") || !strings.Contains(got[1], "/logs") {
			t.Errorf("requests %q; want the list, then one read of the log", got)
		}
		_, stdout, _ = kitaru(t, "flow", "deployments", "logs", "breaks_mid_line", "--version", "1")
		if got := requests.take(); len(got) != 2 || got[0] != "GET /v1/flows/breaks_mid_line/executions?limit=1&version=1" || !strings.Contains(stdout, "pinned") {
			t.Errorf("requests %q, stdout %q; want the newest of version 1 from one filtered list request", got, stdout)
		}
	})
	t.Run("invoke --wait --logs prints the log on stderr and the result on stdout", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "invoke", "ticks", "--input", `{"count": 2, "every": 0.1}`, "--wait", "--logs")
		if exit != cli.ExitOK || stdout != "2\n" || !strings.Contains(stderr, "tick 0\ntick 1\n[kitaru] completed in") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		if exit, _, stderr := kitaru(t, "invoke", "ticks", "--logs"); exit != cli.ExitUsage || !strings.Contains(stderr, "--logs needs --wait") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
}
