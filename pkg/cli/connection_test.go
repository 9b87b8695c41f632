package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestMain keeps every test away from the real user config and the
// caller's connection variables; tests set their own.
func TestMain(m *testing.M) {
	if os.Getenv(runAsKitaru) == "1" {
		// The test binary as the kitaru command (kitaruOnPath).
		os.Exit(cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	dir, err := os.MkdirTemp("", "kitaru-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(client.EnvConfigDir, dir)
	// kitaru dev's default data directory: never the real one.
	os.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	for _, env := range []string{client.EnvServerURL, client.EnvAuthToken, client.EnvProject} {
		os.Unsetenv(env)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runAsKitaru makes the test binary run as the kitaru command.
const runAsKitaru = "KITARU_CLI_TEST_RUN_AS_KITARU"

// kitaruOnPath puts a kitaru command that runs this package's CLI first on
// PATH, for scripts that call kitaru (generated curl commands run "kitaru
// auth token"). It inherits the test's environment.
func kitaruOnPath(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	shim := "#!/bin/sh\n" + runAsKitaru + "=1 exec " + client.ShellQuote(exe) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "kitaru"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// fakeAPIKey has the shape of an API key (kat_<16 base32>_<43 base64url>).
const fakeAPIKey = "kat_abcdefghijklmnop_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg"

// fakeIssuedToken is the token fakeAuthServer issues.
const fakeIssuedToken = "eyJhbGciOiJIUzI1NiJ9.fake-claims.fake-signature"

// fakeAuthServer speaks the JSON of GET /v1/status and POST /v1/auth/token
// for one API key of project production, as the Kitaru server does.
type fakeAuthServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []fakeRequest
	// project is what /v1/status answers, whatever the request asks.
	project string
}

func newFakeAuthServer(t *testing.T) *fakeAuthServer {
	t.Helper()
	f := &fakeAuthServer{project: "production"}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAuthServer) serve(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	var body map[string]json.RawMessage
	json.Unmarshal(data, &body)
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
	project := f.project
	f.mu.Unlock()

	credential := registry.CredentialAPIKey
	switch r.Header.Get("Authorization") {
	case "Bearer " + fakeAPIKey:
	case "Bearer " + fakeIssuedToken:
		credential = registry.CredentialToken
	case "":
		refuseWith(w, http.StatusUnauthorized, registry.CodeUnauthenticated, "the request carries no credentials")
		return
	default:
		refuseWith(w, http.StatusUnauthorized, registry.CodeUnauthenticated, "the API key kat_abcd… is not valid (unknown or revoked); ask an operator for a key")
		return
	}
	switch {
	case r.Method == "GET" && r.URL.Path == "/v1/status":
		answer(w, http.StatusOK, client.Status{ServerVersion: "0.9.0", Project: project, Principal: "abcdefghijklmnop", Role: registry.RoleProducer, Credential: credential})
	case r.Method == "POST" && r.URL.Path == "/v1/auth/token" && credential == registry.CredentialToken:
		refuseWith(w, http.StatusForbidden, registry.CodePermissionDenied, "a token cannot be exchanged for another; use an API key")
	case r.Method == "POST" && r.URL.Path == "/v1/auth/token":
		answer(w, http.StatusOK, map[string]string{"token": fakeIssuedToken, "expires_at": "2030-01-02T03:19:05Z"})
	default:
		refuseWith(w, http.StatusNotFound, registry.CodeNotFound, "no such route")
	}
}

func refuseWith(w http.ResponseWriter, status int, code registry.Code, message string) {
	answer(w, status, api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: message}})
}

func (f *fakeAuthServer) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

// isolate gives the test its own empty config directory and clears the
// connection variables; it returns the config file's path.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(client.EnvConfigDir, dir)
	for _, env := range []string{client.EnvServerURL, client.EnvAuthToken, client.EnvProject} {
		t.Setenv(env, "")
	}
	return filepath.Join(dir, "config.json")
}

// saveConnection writes the config file as kitaru login would.
func saveConnection(t *testing.T, path string, conn client.Connection) {
	t.Helper()
	if err := client.SaveConnection(path, conn); err != nil {
		t.Fatal(err)
	}
}

func TestLoginSavesAPrivateConnectionThatStatusUses(t *testing.T) {
	path := isolate(t)
	f := newFakeAuthServer(t)

	exit, stdout, stderr := kitaru(t, "login", f.URL+"/", "--api-key", fakeAPIKey, "--project", "production")
	if exit != cli.ExitOK {
		t.Fatalf("login: exit %d, stderr %q", exit, stderr)
	}
	for _, want := range []string{"Logged in to " + f.URL + " (server 0.9.0)", "role producer", "project production", path} {
		if !strings.Contains(stdout, want) {
			t.Errorf("login said %q, lacks %q", stdout, want)
		}
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v; want mode 0600", info, err)
	}
	got, sources, err := client.LoadConnection(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if want := (client.Connection{ServerURL: f.URL, AuthToken: fakeAPIKey, Project: "production"}); got != want {
		t.Errorf("saved %+v, want %+v", got, want)
	}
	if sources.ServerURL != client.SourceFile || sources.AuthToken != client.SourceFile || sources.Project != client.SourceFile {
		t.Errorf("sources %+v, want all file", sources)
	}
	h := f.seen()[0].Header
	if h.Get("Authorization") != "Bearer "+fakeAPIKey || h.Get("X-Kitaru-Project") != "production" {
		t.Errorf("login verified with headers %v", h)
	}

	exit, stdout, stderr = kitaru(t, "status")
	if exit != cli.ExitOK {
		t.Fatalf("status: exit %d, stderr %q", exit, stderr)
	}
	for _, want := range []string{"Server:     " + f.URL, "Version:    0.9.0", "Project:    production", "Principal:  abcdefghijklmnop", "Role:       producer", "Credential: api_key"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status said %q, lacks %q", stdout, want)
		}
	}
}

func TestLoginWithoutAProjectSavesTheKeysProject(t *testing.T) {
	isolate(t)
	f := newFakeAuthServer(t)
	if exit, _, stderr := kitaru(t, "login", f.URL, "--api-key", fakeAPIKey); exit != cli.ExitOK {
		t.Fatalf("exit %d, stderr %q", exit, stderr)
	}
	if got, _, _ := client.LoadConnection(os.Getenv); got.Project != "production" {
		t.Errorf("saved project %q, want production", got.Project)
	}
	if h := f.seen()[0].Header; h.Get("X-Kitaru-Project") != "" {
		t.Errorf("sent project %q, want none", h.Get("X-Kitaru-Project"))
	}
}

func TestLoginThatFailsSavesNothing(t *testing.T) {
	previous := client.Connection{ServerURL: "https://previous.example.com", AuthToken: "kat_previous", Project: "previous"}
	tests := []struct {
		name       string
		args       func(url string) []string
		wantStderr string
	}{
		{
			name: "a key the server refuses",
			args: func(url string) []string {
				return []string{"login", url, "--api-key", "kat_wrong", "--project", "production"}
			},
			wantStderr: "error: the API key kat_abcd… is not valid (unknown or revoked); ask an operator for a key\n",
		},
		{
			name: "a project the server does not confirm",
			args: func(url string) []string {
				return []string{"login", url, "--api-key", fakeAPIKey, "--project", "staging"}
			},
			wantStderr: "error: the server put this key in project \"production\", not \"staging\"; nothing was saved\n",
		},
		{
			name:       "a server that cannot be reached",
			args:       func(string) []string { return []string{"login", "http://127.0.0.1:1", "--api-key", fakeAPIKey} },
			wantStderr: "cannot reach the Kitaru server at http://127.0.0.1:1",
		},
		{
			name:       "a malformed server URL",
			args:       func(string) []string { return []string{"login", "kitaru.example.com", "--api-key", fakeAPIKey} },
			wantStderr: "use http(s)://host[:port]",
		},
	}
	for _, tt := range tests {
		for _, existing := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s (config file before: %v)", tt.name, existing), func(t *testing.T) {
				path := isolate(t)
				if existing {
					saveConnection(t, path, previous)
				}
				f := newFakeAuthServer(t)
				exit, stdout, stderr := kitaru(t, tt.args(f.URL)...)
				if exit != cli.ExitError || stdout != "" || !strings.Contains(stderr, tt.wantStderr) {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", exit, stdout, stderr, tt.wantStderr)
				}
				got, _, err := client.LoadConnection(os.Getenv)
				if err != nil {
					t.Fatal(err)
				}
				want := client.Connection{}
				if existing {
					want = previous
				}
				if got != want {
					t.Errorf("config holds %+v after the failed login, want %+v", got, want)
				}
			})
		}
	}
}

func TestLoginUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no API key", []string{"login", "https://k.example.com"}, "--api-key"},
		{"a token instead of an API key", []string{"login", "https://k.example.com", "--api-key", fakeIssuedToken}, "KITARU_AUTH_TOKEN"},
		{"an invalid project name", []string{"login", "https://k.example.com", "--api-key", fakeAPIKey, "--project", "Prod!"}, "project \"Prod!\" is invalid"},
		{"no URL", []string{"login", "--api-key", fakeAPIKey}, "accepts 1 arg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := isolate(t)
			exit, _, stderr := kitaru(t, tt.args...)
			if exit != cli.ExitUsage || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", exit, stderr, cli.ExitUsage, tt.wantErr)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("a config file exists: %v", err)
			}
		})
	}
}

func TestLogoutIsIdempotent(t *testing.T) {
	path := isolate(t)
	saveConnection(t, path, client.Connection{ServerURL: "https://k.example.com", AuthToken: fakeAPIKey})
	for i, want := range []string{"Logged out: removed " + path, "Not logged in: " + path + " does not exist"} {
		exit, stdout, stderr := kitaru(t, "logout")
		if exit != cli.ExitOK || !strings.Contains(stdout, want) {
			t.Errorf("logout %d: exit %d, stdout %q, stderr %q; want %q", i+1, exit, stdout, stderr, want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the config file still exists: %v", err)
	}
	t.Run("a variable still set is pointed out", func(t *testing.T) {
		t.Setenv(client.EnvAuthToken, fakeAPIKey)
		_, _, stderr := kitaru(t, "logout")
		if !strings.Contains(stderr, "KITARU_AUTH_TOKEN is set in the environment") || strings.Contains(stderr, fakeAPIKey) {
			t.Errorf("stderr %q", stderr)
		}
	})
}

// infoOutput is the -o json output of kitaru info.
type infoOutput struct {
	Command string `json:"command"`
	Item    struct {
		ConfigFile string            `json:"config_file"`
		ServerURL  map[string]string `json:"server_url"`
		AuthToken  map[string]string `json:"auth_token"`
		Project    map[string]string `json:"project"`
		Problem    string            `json:"problem"`
	} `json:"item"`
}

func TestInfoShowsEachValueAndItsSource(t *testing.T) {
	fileConn := client.Connection{ServerURL: "https://file.example.com", AuthToken: fakeAPIKey, Project: "from-file"}
	tests := []struct {
		name        string
		file        *client.Connection
		env         map[string]string
		wantText    []string
		wantSources [3]string // server URL, auth token, project
		wantProblem string
	}{
		{
			name:        "nothing configured says what to set",
			wantText:    []string{"Server URL:  not set (KITARU_SERVER_URL)", "Auth token:  not set (KITARU_AUTH_TOKEN)", "Project:     not set (KITARU_PROJECT)", `Not ready: no Kitaru server: run "kitaru login`},
			wantSources: [3]string{"not set", "not set", "not set"},
			wantProblem: "no Kitaru server",
		},
		{
			name:        "a saved login is shown from the file with the key masked",
			file:        &fileConn,
			wantText:    []string{"Server URL:  https://file.example.com  from file", "Auth token:  kat_abcd… (api_key)  from file", "Project:     from-file  from file"},
			wantSources: [3]string{"file", "file", "file"},
		},
		{
			name:        "each variable overrides its own value",
			file:        &fileConn,
			env:         map[string]string{client.EnvAuthToken: fakeIssuedToken, client.EnvProject: "from-env"},
			wantText:    []string{"Server URL:  https://file.example.com  from file", "Auth token:  eyJhbGci… (token)  from env KITARU_AUTH_TOKEN", "Project:     from-env  from env KITARU_PROJECT"},
			wantSources: [3]string{"file", "env", "env"},
		},
		{
			name:        "a URL without a credential names KITARU_AUTH_TOKEN",
			env:         map[string]string{client.EnvServerURL: "https://env.example.com"},
			wantText:    []string{"Server URL:  https://env.example.com  from env KITARU_SERVER_URL", "Not ready: no credentials for the Kitaru server at https://env.example.com: set KITARU_AUTH_TOKEN"},
			wantSources: [3]string{"env", "not set", "not set"},
			wantProblem: "no credentials",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := isolate(t)
			if tt.file != nil {
				saveConnection(t, path, *tt.file)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			exit, stdout, stderr := kitaru(t, "info")
			if exit != cli.ExitOK {
				t.Fatalf("exit %d, stderr %q", exit, stderr)
			}
			for _, want := range append(tt.wantText, "Config file: "+path) {
				if !strings.Contains(stdout, want) {
					t.Errorf("info %q lacks %q", stdout, want)
				}
			}
			exit, stdout, _ = kitaru(t, "info", "-o", "json")
			var o infoOutput
			if err := json.Unmarshal([]byte(stdout), &o); err != nil || exit != cli.ExitOK {
				t.Fatalf("exit %d, output %q: %v", exit, stdout, err)
			}
			got := [3]string{o.Item.ServerURL["source"], o.Item.AuthToken["source"], o.Item.Project["source"]}
			if diff := cmp.Diff(tt.wantSources, got); diff != "" || o.Command != "info" || o.Item.ConfigFile != path {
				t.Errorf("json %+v; sources (-want +got):\n%s", o, diff)
			}
			if !strings.Contains(o.Item.Problem, tt.wantProblem) || (tt.wantProblem == "") != (o.Item.Problem == "") {
				t.Errorf("problem %q, want %q", o.Item.Problem, tt.wantProblem)
			}
		})
	}
}

// TestNoCommandPrintsTheWholeCredential runs every command that sees the
// connection, in text and JSON, and looks for the key and the token.
func TestNoCommandPrintsTheWholeCredential(t *testing.T) {
	f := newFakeAuthServer(t)
	runs := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{"login", nil, []string{"login", f.URL, "--api-key", fakeAPIKey, "--project", "production"}},
		{"login refused", nil, []string{"login", f.URL, "--api-key", fakeAPIKey + "x"}},
		{"info", nil, []string{"info"}},
		{"info as JSON", nil, []string{"info", "-o", "json"}},
		{"info of a token", map[string]string{client.EnvAuthToken: fakeIssuedToken}, []string{"info", "-o", "json"}},
		{"status", nil, []string{"status"}},
		{"status as JSON", nil, []string{"status", "-o", "json"}},
		{"status refused", map[string]string{client.EnvAuthToken: fakeAPIKey + "x"}, []string{"status", "-o", "json"}},
		{"auth token of a token", map[string]string{client.EnvAuthToken: fakeIssuedToken}, []string{"auth", "token"}},
		{"logout", map[string]string{client.EnvAuthToken: fakeAPIKey}, []string{"logout"}},
	}
	path := isolate(t)
	saveConnection(t, path, client.Connection{ServerURL: f.URL, AuthToken: fakeAPIKey, Project: "production"})
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			for k, v := range r.env {
				t.Setenv(k, v)
			}
			_, stdout, stderr := kitaru(t, r.args...)
			for _, secret := range []string{fakeAPIKey, fakeIssuedToken} {
				if strings.Contains(stdout+stderr, secret) {
					t.Errorf("output shows a whole credential: stdout %q, stderr %q", stdout, stderr)
				}
			}
		})
	}
}

func TestMissingConnectionPiecesFailWithOneLine(t *testing.T) {
	root := newProject(t)
	commands := [][]string{
		{"status"},
		{"auth", "token"},
		{"invoke", "research_agent"},
		{"deploy", filepath.Join(root, "flows", "research.py") + ":research_agent"},
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"nothing set", nil, `error: no Kitaru server: run "kitaru login URL --api-key KEY --project P" or set KITARU_SERVER_URL and KITARU_AUTH_TOKEN` + "\n"},
		{"no server URL", map[string]string{client.EnvAuthToken: fakeAPIKey}, `error: no Kitaru server URL: set KITARU_SERVER_URL or run "kitaru login URL --api-key KEY --project P"` + "\n"},
		{"no credential", map[string]string{client.EnvServerURL: "http://127.0.0.1:1"}, `error: no credentials for the Kitaru server at http://127.0.0.1:1: set KITARU_AUTH_TOKEN to an API key or token, or run "kitaru login URL --api-key KEY --project P"` + "\n"},
		{"a malformed server URL", map[string]string{client.EnvServerURL: "k.example.com", client.EnvAuthToken: fakeAPIKey}, `error: KITARU_SERVER_URL: server URL "k.example.com" is invalid: use http(s)://host[:port]` + "\n"},
		{"no project", map[string]string{client.EnvServerURL: "http://127.0.0.1:1", client.EnvAuthToken: fakeAPIKey}, `error: no Kitaru project: set KITARU_PROJECT to the project to act in, or run "kitaru login URL --api-key KEY --project P"` + "\n"},
	}
	for _, tt := range tests {
		for _, args := range commands {
			t.Run(tt.name+": "+args[0], func(t *testing.T) {
				isolate(t)
				for k, v := range tt.env {
					t.Setenv(k, v)
				}
				exit, stdout, stderr := kitaru(t, args...)
				if exit != cli.ExitError || stdout != "" || stderr != tt.want {
					t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 and %q", exit, stdout, stderr, tt.want)
				}
			})
		}
	}
	t.Run("with -o json the error is the envelope", func(t *testing.T) {
		isolate(t)
		_, _, stderr := kitaru(t, "status", "-o", "json")
		var o struct{ Error api.ErrorDetail }
		if err := json.Unmarshal([]byte(stderr), &o); err != nil || o.Error.Code != registry.CodePreconditionFailed || !strings.HasPrefix(o.Error.Message, "no Kitaru server") {
			t.Errorf("stderr %q (%v)", stderr, err)
		}
	})
}

func TestAuthToken(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantTTL string // the request's ttl_seconds, "" for none
	}{
		{"the default TTL is left to the server", nil, ""},
		{"--ttl is sent in seconds", []string{"--ttl", "1h"}, "3600"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" and only the token is printed", func(t *testing.T) {
			isolate(t)
			f := newFakeAuthServer(t)
			t.Setenv(client.EnvServerURL, f.URL)
			t.Setenv(client.EnvAuthToken, fakeAPIKey)
			t.Setenv(client.EnvProject, "production")
			exit, stdout, stderr := kitaru(t, append([]string{"auth", "token"}, tt.args...)...)
			if exit != cli.ExitOK || stdout != fakeIssuedToken+"\n" || stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
			}
			r := f.seen()[0]
			if r.Method != "POST" || r.Path != "/v1/auth/token" || string(r.Body["ttl_seconds"]) != tt.wantTTL || r.Header.Get("X-Kitaru-Project") != "production" {
				t.Errorf("request %s %s body %v headers %v", r.Method, r.Path, r.Body, r.Header)
			}
		})
	}
	t.Run("-o json gives the token and its expiry", func(t *testing.T) {
		path := isolate(t)
		f := newFakeAuthServer(t)
		saveConnection(t, path, client.Connection{ServerURL: f.URL, AuthToken: fakeAPIKey, Project: "production"})
		exit, stdout, _ := kitaru(t, "auth", "token", "-o", "json")
		var o map[string]string
		if err := json.Unmarshal([]byte(stdout), &o); err != nil || exit != cli.ExitOK || len(o) != 2 || o["token"] != fakeIssuedToken || o["expires_at"] != "2030-01-02T03:19:05Z" {
			t.Errorf("exit %d, output %q (%v)", exit, stdout, err)
		}
	})
	t.Run("a credential that is neither a key nor a token says how to get one", func(t *testing.T) {
		path := isolate(t)
		f := newFakeAuthServer(t)
		saveConnection(t, path, client.Connection{ServerURL: f.URL, AuthToken: fakeAPIKey, Project: "production"})
		t.Setenv(client.EnvAuthToken, fakeIssuedToken)
		exit, stdout, stderr := kitaru(t, "auth", "token")
		if exit != cli.ExitError || stdout != "" || !strings.Contains(stderr, "the credential from KITARU_AUTH_TOKEN is neither an API key nor a Kitaru token") ||
			!strings.Contains(stderr, `"kitaru login URL --api-key KEY"`) {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		if n := len(f.seen()); n != 0 {
			t.Errorf("%d requests sent, want none", n)
		}
	})
	t.Run("a token the server refuses says how to get a new one, not to run kitaru auth token", func(t *testing.T) {
		isolate(t)
		f := newFakeAuthServer(t)
		t.Setenv(client.EnvServerURL, f.URL)
		t.Setenv(client.EnvAuthToken, signedToken(t, time.Now(), 15*time.Minute))
		t.Setenv(client.EnvProject, "production")
		exit, stdout, stderr := kitaru(t, "auth", "token")
		if exit != cli.ExitError || stdout != "" || !strings.HasPrefix(stderr, "error: the server refuses the token from KITARU_AUTH_TOKEN (") ||
			!strings.Contains(stderr, `"kitaru login URL --api-key KEY"`) || strings.Contains(stderr, "ask an operator") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
	})
	t.Run("a key the server refuses exits 1 with its message", func(t *testing.T) {
		isolate(t)
		f := newFakeAuthServer(t)
		t.Setenv(client.EnvServerURL, f.URL)
		t.Setenv(client.EnvAuthToken, "kat_revoked")
		t.Setenv(client.EnvProject, "production")
		exit, stdout, stderr := kitaru(t, "auth", "token")
		if exit != cli.ExitError || stdout != "" || !strings.Contains(stderr, "error: the API key kat_abcd… is not valid") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
	})
	for _, ttl := range []string{"30s", "2h", "0s"} {
		t.Run("a TTL of "+ttl+" is a usage error", func(t *testing.T) {
			isolate(t)
			exit, _, stderr := kitaru(t, "auth", "token", "--ttl", ttl)
			if exit != cli.ExitUsage || !strings.Contains(stderr, "use 1m to 1h") {
				t.Errorf("exit %d, stderr %q", exit, stderr)
			}
		})
	}
}

func TestStatusJSON(t *testing.T) {
	isolate(t)
	f := newFakeAuthServer(t)
	t.Setenv(client.EnvServerURL, f.URL)
	t.Setenv(client.EnvAuthToken, fakeIssuedToken)
	t.Setenv(client.EnvProject, "production")
	exit, stdout, stderr := kitaru(t, "status", "-o", "json")
	var o struct {
		Command string         `json:"command"`
		Item    map[string]any `json:"item"`
	}
	if err := json.Unmarshal([]byte(stdout), &o); err != nil || exit != cli.ExitOK {
		t.Fatalf("exit %d, stdout %q, stderr %q (%v)", exit, stdout, stderr, err)
	}
	want := map[string]any{"server_url": f.URL, "server_version": "0.9.0", "project": "production", "principal": "abcdefghijklmnop", "role": "producer", "credential": "token"}
	if diff := cmp.Diff(want, o.Item); diff != "" || o.Command != "status" {
		t.Errorf("command %q, item (-want +got):\n%s", o.Command, diff)
	}
}

func TestStatusShowsTheServersRefusal(t *testing.T) {
	isolate(t)
	f := newFakeAuthServer(t)
	t.Setenv(client.EnvServerURL, f.URL)
	t.Setenv(client.EnvAuthToken, "kat_revoked")
	t.Setenv(client.EnvProject, "production")
	exit, stdout, stderr := kitaru(t, "status")
	if exit != cli.ExitError || stdout != "" || stderr != "error: the API key kat_abcd… is not valid (unknown or revoked); ask an operator for a key\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
	}
}

func TestInvokeCheckCommandUsesTheSavedConnection(t *testing.T) {
	f := newFakeKitaru(t)
	path := isolate(t)
	saveConnection(t, path, client.Connection{ServerURL: f.URL, AuthToken: fakeAPIKey, Project: "production"})
	f.executions = []registry.Execution{running()}
	exit, stdout, stderr := kitaru(t, "invoke", "research_agent", "--wait", "--timeout", "300ms")
	want := `curl -s ` + f.URL + `/v1/executions/` + fakeExecID + ` -H "Authorization: Bearer $(kitaru auth token)" -H "X-Kitaru-Project: production"`
	if exit != cli.ExitError || !strings.Contains(stderr, want) || strings.Contains(stdout+stderr, fakeAPIKey) {
		t.Errorf("exit %d, stderr %q; want it to contain %q", exit, stderr, want)
	}
	if h := f.seen()[0].Header; h.Get("Authorization") != "Bearer "+fakeAPIKey || h.Get("X-Kitaru-Project") != "production" {
		t.Errorf("invoke sent headers %v", h)
	}
}

// signedToken is a Kitaru token of project default, valid for ttl from
// issued, signed with a secret no server has.
func signedToken(t *testing.T, issued time.Time, ttl time.Duration) string {
	t.Helper()
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	signer := auth.Signer{Secret: secret, Now: func() time.Time { return issued }}
	token, _, err := signer.Issue(registry.Principal{Project: "default", Role: registry.RoleProducer, ID: "abcdefghijklmnop"}, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func TestAuthTokenPassesOnAConnectionsToken(t *testing.T) {
	startKitaruDev(t)
	issued := itemOfToken(t, mustKitaru(t, "auth", "token", "-o", "json"))
	t.Setenv(client.EnvAuthToken, issued.Token) // as CI is set up with a token

	t.Run("a token valid for more than a minute is printed as it is", func(t *testing.T) {
		if out := mustKitaru(t, "auth", "token"); out != issued.Token+"\n" {
			t.Errorf("stdout %q, want the connection's token", out)
		}
		got := itemOfToken(t, mustKitaru(t, "auth", "token", "-o", "json"))
		if got.Token != issued.Token || !got.ExpiresAt.Equal(issued.ExpiresAt) {
			t.Errorf("-o json %+v, want %+v", got, issued)
		}
	})
	t.Run("a generated curl command runs with it", func(t *testing.T) {
		for _, tool := range []string{"bash", "curl"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Skipf("%s is not installed: %v", tool, err)
			}
		}
		kitaruOnPath(t)
		deployResearch(t)
		out := mustKitaru(t, "flow", "deployments", "curl", "research_agent", "--tag", "canary")
		cmd := exec.Command("bash", "-c", "set -o pipefail; "+out)
		started, err := cmd.Output()
		if err != nil {
			t.Fatalf("the command failed: %v\n%s", err, started)
		}
		var e registry.Execution
		if err := json.Unmarshal(started, &e); err != nil || e.Version != 2 {
			t.Errorf("curl answered %s (%v), want an execution of version 2", started, err)
		}
	})
	t.Run("--ttl longer than the token has left is refused", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "auth", "token", "--ttl", "1h")
		if exit != cli.ExitError || stdout != "" || !strings.Contains(stderr, "less than the 1h asked for") || !strings.Contains(stderr, "kitaru login URL --api-key KEY") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
	})
	for _, tt := range []struct {
		name    string
		token   string
		mention string
	}{
		{"a token with less than a minute left", signedToken(t, time.Now().Add(-59*time.Minute-30*time.Second), time.Hour), "less than the 1m asked for"},
		{"an expired token", signedToken(t, time.Now().Add(-2*time.Hour), time.Hour), "expired at"},
	} {
		t.Run(tt.name+" is refused before any request, saying how to get a new one", func(t *testing.T) {
			t.Setenv(client.EnvAuthToken, tt.token)
			exit, stdout, stderr := kitaru(t, "auth", "token", "-o", "json")
			e := errorOf(t, "auth token", stderr)
			if exit != cli.ExitError || stdout != "" || e.Code != registry.CodePreconditionFailed || !strings.Contains(e.Message, tt.mention) ||
				!strings.Contains(e.Message, "kitaru login URL --api-key KEY") {
				t.Errorf("exit %d, stdout %q, error %+v", exit, stdout, e)
			}
		})
	}
	t.Run("a token of another kitaru dev run is refused with the key to use", func(t *testing.T) {
		t.Setenv(client.EnvAuthToken, signedToken(t, time.Now(), 15*time.Minute))
		exit, _, stderr := kitaru(t, "auth", "token")
		if exit != cli.ExitError || !strings.Contains(stderr, "kitaru dev refuses this credential") || !strings.Contains(stderr, "set KITARU_AUTH_TOKEN to that key") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
}

func itemOfToken(t *testing.T, stdout string) client.IssuedToken {
	t.Helper()
	var tok client.IssuedToken
	if err := json.Unmarshal([]byte(stdout), &tok); err != nil || tok.Token == "" {
		t.Fatalf("output %q: %v", stdout, err)
	}
	return tok
}
