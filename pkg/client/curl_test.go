package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// requireBash skips tests that run generated commands where bash is missing.
func requireBash(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range append([]string{"bash"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

func TestShellQuoteRoundTripsThroughBash(t *testing.T) {
	requireBash(t)
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	tests := []struct{ name, value string }{
		{"a plain word stays itself", "research_agent"},
		{"an empty string stays one empty word", ""},
		{"single quotes are closed, escaped and reopened", `it's 'quoted'`},
		{"double quotes are literal", `say "hi"`},
		{"spaces and tabs do not split the word", "a b\tc  d"},
		{"command substitution does not run", "$(touch " + pwned + ")"},
		{"backticks do not run", "`touch " + pwned + "`"},
		{"variables do not expand", "$HOME ${PATH} $1 $@"},
		{"newlines are kept", "line one\nline two\n"},
		{"unicode is kept byte for byte", "naïve 日本語 🚀"},
		{"backslashes, globs and history marks are literal", `C:\path\* ?.py !! ~ & | ; < > #`},
		{"a leading dash is not an option", "-n -e"},
		{"JSON with every kind of quote", `{"topic":"it's \"x\" $(touch ` + pwned + `) ` + "`id`" + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command("bash", "-c", "printf %s "+client.ShellQuote(tt.value)).Output()
			if err != nil {
				t.Fatalf("bash: %v", err)
			}
			if got := string(out); got != tt.value {
				t.Errorf("bash echoed %q, want %q", got, tt.value)
			}
			if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the quoted value ran a command: %s exists", pwned)
			}
		})
	}
}

func TestCurlRefusesBadArgumentsBeforeAnyRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		flow string
		opts client.CurlOptions
	}{
		{"an empty flow name", "", client.CurlOptions{}},
		{"a flow name with shell syntax", "x$(id)", client.CurlOptions{}},
		{"a flow name with the reserved ::", "a::b", client.CurlOptions{}},
		{"a tag with a quote", "research_agent", client.CurlOptions{Selector: registry.Selector{Tag: "it's"}}},
		{"a tag starting with a dash", "research_agent", client.CurlOptions{Selector: registry.Selector{Tag: "-x"}}},
		{"a negative version", "research_agent", client.CurlOptions{Selector: registry.Selector{Version: -1}}},
		{"both a tag and a version", "research_agent", client.CurlOptions{Selector: registry.Selector{Tag: "stable", Version: 2}}},
		{"following the route of a version", "research_agent", client.CurlOptions{Selector: registry.Selector{Version: 2}, FollowRoute: true}},
		{"inputs that are an array", "research_agent", client.CurlOptions{Inputs: json.RawMessage(`[1]`)}},
		{"inputs that are not JSON", "research_agent", client.CurlOptions{Inputs: json.RawMessage(`{topic}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is invalid_argument", func(t *testing.T) {
			_, err := c.Deployments().Curl(context.Background(), tt.flow, tt.opts)
			if got := registry.CodeOf(err); got != registry.CodeInvalidArgument {
				t.Fatalf("code %q (%v), want invalid_argument", got, err)
			}
		})
	}
}

// TestCurlCommandPassesEachValueAsOneArgument runs generated commands with
// curl and kitaru replaced by bash functions that print their arguments:
// a base URL, project and inputs full of shell syntax must reach curl as
// exactly one argument each, and run nothing.
func TestCurlCommandPassesEachValueAsOneArgument(t *testing.T) {
	requireBash(t)
	pwned := filepath.Join(t.TempDir(), "pwned")
	// A header value cannot hold a newline; the inputs add one.
	evil := "it's \"$(touch " + pwned + ")\" `touch " + pwned + "` $HOME \\ 日本"
	// fakeResolver answers every resolve with version 4 of research_agent.
	fakeResolver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"selector": {"tag": "stable"}, "deployment": {"flow": "research_agent", "version": 4, "tags": {"stable": true}}}`)
	}))
	t.Cleanup(fakeResolver.Close)
	c, err := client.New(fakeResolver.URL+"/stage'$(touch "+pwned+")`id`", client.WithProject(evil))
	if err != nil {
		t.Fatal(err)
	}
	inputs, err := json.Marshal(map[string]string{"topic": evil + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	for _, follow := range []bool{false, true} {
		t.Run("follow route "+strconv.FormatBool(follow), func(t *testing.T) {
			cmd, err := c.Deployments().Curl(context.Background(), "research_agent", client.CurlOptions{
				Selector: registry.Selector{Tag: "stable"}, Inputs: inputs, FollowRoute: follow,
			})
			if err != nil {
				t.Fatal(err)
			}
			script := `curl() { printf '%s\0' "$@"; }; kitaru() { printf 'TOKEN'; }` + "\n" + cmd.Command
			out, err := exec.Command("bash", "-c", script).Output()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, cmd.Command)
			}
			got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
			want := []string{"-sS", "--fail-with-body", "-X", "POST", cmd.URL,
				"-H", "Authorization: Bearer TOKEN",
				"-H", "X-Kitaru-Project: " + evil,
				"-H", "Content-Type: application/json",
				"--data-raw", cmd.Body}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("curl's arguments (-want +got):\n%s\ncommand:\n%s", diff, cmd.Command)
			}
			var body struct{ Inputs struct{ Topic string } }
			if err := json.Unmarshal([]byte(got[len(got)-1]), &body); err != nil || body.Inputs.Topic != evil+"\n" {
				t.Errorf("the body's topic is %q (%v), want %q", body.Inputs.Topic, err, evil+"\n")
			}
			if !strings.HasPrefix(cmd.URL, fakeResolver.URL+"/stage") || !strings.Contains(cmd.URL, "$") {
				t.Errorf("the URL lost its prefix: %s", cmd.URL)
			}
			if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the command ran a substitution: %s exists", pwned)
			}
		})
	}
}

// devServer starts kitaru dev with research_agent deployed as version 1
// (default) and version 2 (stable, exclusive), and returns it with a
// client of its project and a deploy function for more versions.
func devServer(t *testing.T) (*devstack.Server, *client.Client, func(tag string) registry.Deployment) {
	t.Helper()
	requireBash(t, "curl")
	d := startDev(t)
	c, err := client.New(d.srv.URL(), client.WithAuthToken(d.srv.APIKey()), client.WithProject(devstack.Project))
	if err != nil {
		t.Fatal(err)
	}
	deploy := func(tag string) registry.Deployment {
		t.Helper()
		req := client.DeployRequest{Tag: tag, Exclusive: tag != ""}
		return d.deploy(t, "research", "flows/research.py:research_agent", `{"topic": "durable agents"}`, req).Deployment
	}
	deploy("")
	deploy("stable")
	return d.srv, c, deploy
}

// fakeKitaru puts a fake kitaru first on PATH for commands run with env: it
// answers "kitaru auth token" with token and refuses anything else.
func fakeKitaru(t *testing.T, token string) (env []string) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n" +
		"if [ \"$1 $2\" = 'auth token' ]; then printf '%s\\n' " + client.ShellQuote(token) + "; exit 0; fi\n" +
		"echo \"fake kitaru: unexpected arguments: $*\" >&2\nexit 2\n"
	if err := os.WriteFile(filepath.Join(dir, "kitaru"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// runCurl runs a generated command with bash, appending a write-out of the
// HTTP status, and returns the status and the execution it answered.
func runCurl(t *testing.T, env []string, cmd client.CurlCommand) (int, registry.Execution) {
	t.Helper()
	sh := exec.Command("bash", "-c", cmd.Command+` -w '\n%{http_code}'`)
	sh.Env = env
	var stderr bytes.Buffer
	sh.Stderr = &stderr
	out, err := sh.Output()
	if err != nil {
		t.Fatalf("bash: %v\nstdout: %s\nstderr: %s\ncommand:\n%s", err, out, stderr.String(), cmd.Command)
	}
	text := string(out)
	i := strings.LastIndex(text, "\n")
	body, code := text[:max(i, 0)], text[i+1:]
	status, err := strconv.Atoi(code)
	if err != nil {
		t.Fatalf("no status after the body: %q", out)
	}
	var e registry.Execution
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("the answer is not an execution: %v: %s", err, body)
	}
	return status, e
}

// waitEnded waits up to a minute for an execution to end and fails the
// test unless it completed.
func waitEnded(t *testing.T, c *client.Client, id string) registry.Execution {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := c.Executions().Wait(ctx, id)
	if err != nil {
		t.Fatalf("execution %s: %v", id, err)
	}
	return e
}

func TestCurlCommandText(t *testing.T) {
	srv, c, _ := devServer(t)
	ctx := context.Background()
	base := srv.URL()
	tests := []struct {
		name string
		opts client.CurlOptions
		want client.CurlCommand
	}{
		{
			name: "a tag is pinned to the version it resolves to, with comments saying so",
			opts: client.CurlOptions{Selector: registry.Selector{Tag: "stable"}, Inputs: json.RawMessage(`{"topic": "it's"}`)},
			want: client.CurlCommand{
				Command: "# research_agent: tag stable resolved to version 2 when this command was generated.\n" +
					"# The command stays pinned to version 2: regenerate it after the tag moves.\n" +
					"curl -sS --fail-with-body -X POST '" + base + "/v1/flows/research_agent/versions/2/invocations' \\\n" +
					"  -H \"Authorization: Bearer $(kitaru auth token)\" \\\n" +
					"  -H 'X-Kitaru-Project: default' \\\n" +
					"  -H 'Content-Type: application/json' \\\n" +
					`  --data-raw '{"inputs":{"topic":"it'\''s"}}'`,
				URL:             base + "/v1/flows/research_agent/versions/2/invocations",
				Body:            `{"inputs":{"topic":"it's"}}`,
				TokenCommand:    "kitaru auth token",
				ResolvedVersion: 2,
				Tag:             "stable",
				Pinned:          true,
			},
		},
		{
			name: "neither tag nor version resolves default; no inputs sends no body",
			opts: client.CurlOptions{},
			want: client.CurlCommand{
				Command: "# research_agent: tag default resolved to version 1 when this command was generated.\n" +
					"# The command stays pinned to version 1: regenerate it after the tag moves.\n" +
					"curl -sS --fail-with-body -X POST '" + base + "/v1/flows/research_agent/versions/1/invocations' \\\n" +
					"  -H \"Authorization: Bearer $(kitaru auth token)\" \\\n" +
					"  -H 'X-Kitaru-Project: default'",
				URL:             base + "/v1/flows/research_agent/versions/1/invocations",
				TokenCommand:    "kitaru auth token",
				ResolvedVersion: 1,
				Tag:             "default",
				Pinned:          true,
			},
		},
		{
			name: "a version needs no comment",
			opts: client.CurlOptions{Selector: registry.Selector{Version: 1}},
			want: client.CurlCommand{
				Command: "curl -sS --fail-with-body -X POST '" + base + "/v1/flows/research_agent/versions/1/invocations' \\\n" +
					"  -H \"Authorization: Bearer $(kitaru auth token)\" \\\n" +
					"  -H 'X-Kitaru-Project: default'",
				URL:             base + "/v1/flows/research_agent/versions/1/invocations",
				TokenCommand:    "kitaru auth token",
				ResolvedVersion: 1,
				Pinned:          true,
			},
		},
		{
			name: "following the route posts the tag to the flow's invocations",
			opts: client.CurlOptions{Selector: registry.Selector{Tag: "stable"}, FollowRoute: true},
			want: client.CurlCommand{
				Command: "# research_agent: tag stable resolves to version 2 now.\n" +
					"# The command follows the tag: it starts whichever version stable points at when it runs.\n" +
					"curl -sS --fail-with-body -X POST '" + base + "/v1/flows/research_agent/invocations' \\\n" +
					"  -H \"Authorization: Bearer $(kitaru auth token)\" \\\n" +
					"  -H 'X-Kitaru-Project: default' \\\n" +
					"  -H 'Content-Type: application/json' \\\n" +
					`  --data-raw '{"tag":"stable"}'`,
				URL:             base + "/v1/flows/research_agent/invocations",
				Body:            `{"tag":"stable"}`,
				TokenCommand:    "kitaru auth token",
				ResolvedVersion: 2,
				Tag:             "stable",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Deployments().Curl(ctx, "research_agent", tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Curl (-want +got):\n%s", diff)
			}
			if strings.Contains(got.Command, srv.APIKey()) {
				t.Errorf("the command holds the API key:\n%s", got.Command)
			}
		})
	}

	t.Run("a connection without a project sends no project header", func(t *testing.T) {
		bare, err := client.New(srv.URL(), client.WithAuthToken(srv.APIKey()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := bare.Deployments().Curl(ctx, "research_agent", client.CurlOptions{Selector: registry.Selector{Version: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(got.Command, "X-Kitaru-Project") {
			t.Errorf("the command names a project:\n%s", got.Command)
		}
	})
	t.Run("a tag that does not exist is not_found", func(t *testing.T) {
		_, err := c.Deployments().Curl(ctx, "research_agent", client.CurlOptions{Selector: registry.Selector{Tag: "nope"}})
		if !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("err %v, want not_found", err)
		}
	})
}

// TestGeneratedCurlRunsWithBash runs generated commands with real bash and
// curl against kitaru dev, taking the bearer token from a fake kitaru.
func TestGeneratedCurlRunsWithBash(t *testing.T) {
	srv, c, deploy := devServer(t)
	ctx := context.Background()
	tok, err := c.CreateToken(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	env := fakeKitaru(t, tok.Token)
	pwned := filepath.Join(t.TempDir(), "pwned")
	topic := `it's "quoted" $(touch ` + pwned + ") and `touch " + pwned + "` done"
	inputs, err := json.Marshal(map[string]string{"topic": topic})
	if err != nil {
		t.Fatal(err)
	}

	pinned, err := c.Deployments().Curl(ctx, "research_agent", client.CurlOptions{Selector: registry.Selector{Tag: "stable"}, Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	following, err := c.Deployments().Curl(ctx, "research_agent", client.CurlOptions{Selector: registry.Selector{Tag: "stable"}, Inputs: inputs, FollowRoute: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []client.CurlCommand{pinned, following} {
		for _, secret := range []string{srv.APIKey(), tok.Token} {
			if strings.Contains(cmd.Command, secret) {
				t.Fatalf("the command holds a credential:\n%s", cmd.Command)
			}
		}
	}
	if moved := deploy("stable"); moved.Version != 3 {
		t.Fatalf("moving stable deployed version %d, want 3", moved.Version)
	}

	tests := []struct {
		name        string
		cmd         client.CurlCommand
		wantVersion int
	}{
		{"the pinned command starts the version stable named when it was generated", pinned, 2},
		{"the following command starts the version stable names now", following, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, started := runCurl(t, env, tt.cmd)
			if status != http.StatusAccepted {
				t.Fatalf("status %d, want 202", status)
			}
			if started.Version != tt.wantVersion || started.ExecID == "" {
				t.Fatalf("started version %d (exec %q), want %d", started.Version, started.ExecID, tt.wantVersion)
			}
			ended := waitEnded(t, c, started.ExecID)
			var got struct{ Topic string }
			if err := json.Unmarshal(ended.Inputs, &got); err != nil {
				t.Fatal(err)
			}
			if got.Topic != topic {
				t.Errorf("the execution's topic is %q, want %q", got.Topic, topic)
			}
			var result string
			if err := json.Unmarshal(ended.Result, &result); err != nil || result != "research notes on "+topic {
				t.Errorf("result %s, want the notes on the exact topic", ended.Result)
			}
			if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the inputs ran a command: %s exists", pwned)
			}
		})
	}

	t.Run("a command without inputs runs the deployment's own inputs", func(t *testing.T) {
		cmd, err := c.Deployments().Curl(ctx, "research_agent", client.CurlOptions{Selector: registry.Selector{Version: 1}})
		if err != nil {
			t.Fatal(err)
		}
		status, started := runCurl(t, env, cmd)
		if status != http.StatusAccepted || started.Version != 1 {
			t.Fatalf("status %d version %d, want 202 and version 1", status, started.Version)
		}
		if ended := waitEnded(t, c, started.ExecID); string(ended.Result) != `"research notes on durable agents"` {
			t.Errorf("result %s", ended.Result)
		}
	})
}
