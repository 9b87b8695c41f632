package cli_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

// TestSecretsNeverLeakFromSetToRun is the leak test: a secret is
// set, listed, declared by a deploy and read by a real flow on a real
// kitaru dev, and no output of any command, no server log line and nothing
// the flow printed holds its value, while the flow saw exactly it.
func TestSecretsNeverLeakFromSetToRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real flow with python3")
	}
	const value = "sk-cli-leakcheck-41d7e2"
	var logs, flowOutput lockedBuffer
	dataDir := t.TempDir()
	srv, err := devstack.Start(context.Background(), devstack.Config{
		Addr: "127.0.0.1:0", DataDir: dataDir, FlowOutput: &flowOutput,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv("KITARU_SERVER_URL", srv.URL())
	t.Setenv("KITARU_AUTH_TOKEN", srv.APIKey())
	t.Setenv("KITARU_PROJECT", devstack.Project)
	t.Setenv("KITARU_CONFIG_DIR", t.TempDir())
	t.Setenv("MY_OPENAI_KEY", value)

	var outputs []string
	run := func(t *testing.T, wantExit int, args ...string) (stdout, stderr string) {
		t.Helper()
		exit, stdout, stderr := kitaru(t, args...)
		outputs = append(outputs, stdout, stderr)
		if exit != wantExit {
			t.Fatalf("kitaru %s: exit %d, want %d; stderr %q", strings.Join(args, " "), exit, wantExit, stderr)
		}
		return stdout, stderr
	}
	target := filepath.Join(copyDir(t, filepath.Join("..", "..", "testdata", "flows", "secrets")), "flows", "secrets.py") + ":environment"

	t.Run("set reads the value from the variable --from-env names", func(t *testing.T) {
		stdout, _ := run(t, cli.ExitOK, "secrets", "set", "OPENAI_API_KEY", "--from-env", "MY_OPENAI_KEY", "-o", "json")
		if s := itemOf[api.Secret](t, "secrets set", stdout); s.Name != "OPENAI_API_KEY" {
			t.Errorf("set answered %+v", s)
		}
	})
	t.Run("set reads a value file without its trailing newline", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "serp.key")
		if err := os.WriteFile(file, []byte("serp-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		run(t, cli.ExitOK, "secrets", "set", "SERP_KEY", "--value-file", file)
	})
	t.Run("list shows names and update times", func(t *testing.T) {
		stdout, _ := run(t, cli.ExitOK, "secrets", "list", "-o", "json")
		items := itemsOf[api.Secret](t, "secrets list", stdout)
		if len(items) != 2 || items[0].Name != "OPENAI_API_KEY" || items[1].Name != "SERP_KEY" {
			t.Errorf("list = %+v; want OPENAI_API_KEY and SERP_KEY", items)
		}
		text, _ := run(t, cli.ExitOK, "secrets", "list")
		if !strings.HasPrefix(text, "NAME") || !strings.Contains(text, "SERP_KEY") {
			t.Errorf("list text = %q", text)
		}
	})
	t.Run("a value on the command line is not accepted", func(t *testing.T) {
		run(t, cli.ExitUsage, "secrets", "set", "OPENAI_API_KEY", value)
	})
	t.Run("a reserved name is refused before any request", func(t *testing.T) {
		_, stderr := run(t, cli.ExitUsage, "secrets", "set", "AWS_SECRET_ACCESS_KEY", "--from-env", "MY_OPENAI_KEY")
		if !strings.Contains(stderr, "AWS_") {
			t.Errorf("stderr %q; want it to name the reserved prefix", stderr)
		}
	})
	var version int
	t.Run("deploy --secret declares it and get shows it", func(t *testing.T) {
		stdout, _ := run(t, cli.ExitOK, "deploy", target, "--secret", "OPENAI_API_KEY", "-o", "json")
		d := itemOf[registry.Deployment](t, "deploy", stdout)
		if !slices.Equal(d.Secrets, []string{"OPENAI_API_KEY"}) {
			t.Fatalf("deployment secrets %v", d.Secrets)
		}
		version = d.Version
		text, _ := run(t, cli.ExitOK, "flow", "deployments", "get", "environment")
		if !strings.Contains(text, "Secrets:      OPENAI_API_KEY") {
			t.Errorf("get does not show the secrets:\n%s", text)
		}
	})
	t.Run("build --secret declares it on an unrouted version too", func(t *testing.T) {
		stdout, _ := run(t, cli.ExitOK, "build", target, "--secret", "OPENAI_API_KEY", "-o", "json")
		d := itemOf[registry.Deployment](t, "build", stdout)
		if !slices.Equal(d.Secrets, []string{"OPENAI_API_KEY"}) || d.Tags["default"] {
			t.Fatalf("built version %d: secrets %v, tags %v; want the secret and no default", d.Version, d.Secrets, d.Tags)
		}
	})
	t.Run("the run sees exactly its secret and the documented environment", func(t *testing.T) {
		stdout, _ := run(t, cli.ExitOK, "invoke", "environment", "--wait", "-o", "json")
		e := itemOf[registry.Execution](t, "invoke", stdout)
		sum := sha256.Sum256([]byte(value))
		if e.Status != registry.StatusCompleted || !strings.Contains(string(e.Result), hex.EncodeToString(sum[:])) {
			t.Fatalf("execution %s %s; want completed with the digest of the value", e.Status, e.Result)
		}
		var result struct{ Names []string }
		if err := json.Unmarshal(e.Result, &result); err != nil {
			t.Fatal(err)
		}
		for _, name := range result.Names {
			if name != "OPENAI_API_KEY" && !slices.Contains(pyrunner.Environment, name) {
				t.Errorf("the flow saw %s, which it did not declare and is not documented", name)
			}
		}
		if slices.Contains(result.Names, "SERP_KEY") {
			t.Error("the flow saw SERP_KEY, which it did not declare")
		}
		run(t, cli.ExitOK, "executions", "get", e.ExecID, "-o", "json")
	})
	t.Run("after delete, invoking names the missing secret and the command that sets it", func(t *testing.T) {
		run(t, cli.ExitOK, "secrets", "delete", "OPENAI_API_KEY")
		_, stderr := run(t, cli.ExitError, "invoke", "environment", "--version", strconv.Itoa(version))
		if !strings.Contains(stderr, "OPENAI_API_KEY") || !strings.Contains(stderr, "kitaru secrets set OPENAI_API_KEY") {
			t.Errorf("stderr %q; want the missing secret and the command that sets it", stderr)
		}
		run(t, cli.ExitError, "secrets", "delete", "OPENAI_API_KEY")
	})
	t.Run("no output, log line, flow output or registry file holds the value", func(t *testing.T) {
		if logs.String() == "" || !strings.Contains(flowOutput.String(), "environment names:") {
			t.Fatalf("logs %d bytes, flow output %q: the scan would prove nothing", len(logs.String()), flowOutput.String())
		}
		for _, o := range append(outputs, logs.String(), flowOutput.String()) {
			if strings.Contains(o, value) {
				t.Errorf("the value leaked into: %s", o)
			}
		}
		entries, err := os.ReadDir(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() == devstack.SecretsFile || e.IsDir() {
				continue
			}
			data, _ := os.ReadFile(filepath.Join(dataDir, e.Name()))
			if strings.Contains(string(data), value) {
				t.Errorf("the value is stored in %s", e.Name())
			}
		}
		info, err := os.Stat(filepath.Join(dataDir, devstack.SecretsFile))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Errorf("secrets file: %v, %v; want mode 0600", info, err)
		}
	})
}
