package cli_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// The server's messages name no kitaru command (they are for every
// surface); for the refusals it marks with a reason, the CLI adds the
// command or flags of the next step.
func TestServerRefusalsGetTheCLIsNextStep(t *testing.T) {
	startKitaruDev(t)
	target := deployResearch(t) // 1: default, 2: canary (exclusive)
	mustKitaru(t, "flow", "tag", "research_agent", "fresh", "--version", "1", "--exclusive")
	mustKitaru(t, "flow", "tag", "research_agent", "stable", "--version", "1", "--exclusive")
	mustKitaru(t, "deploy", target, "--input", `{"topic": "durable agents"}`, "--tag", "stable", "--exclusive") // 3, stable moves 1 → 3
	mustKitaru(t, "flow", "tag", "research_agent", "default", "--version", "3")
	mustKitaru(t, "flow", "tag", "research_agent", "fresh", "--version", "3", "--exclusive")
	mustKitaru(t, "flow", "tag", "research_agent", "fresh", "--version", "1", "--exclusive") // fresh: 1 → 3 → 1
	mustKitaru(t, "flow", "tag", "research_agent", "solo", "--version", "2", "--exclusive")
	tests := []struct {
		name, command string
		args          []string
		want          string
		// gone is the server's own next step, which the CLI's replaces.
		gone string
	}{
		{"a flow without deployments", "flow show", []string{"nope"},
			"deploy it with kitaru deploy path/to/file.py:nope", "deploy it first"},
		{"a version the flow lacks", "flow deployments get", []string{"research_agent", "--version", "99"},
			"list its versions with kitaru flow deployments list research_agent", "list the flow's deployments"},
		{"a tag no version holds", "flow deployments get", []string{"research_agent", "--tag", "nosuch"},
			"see its tags with kitaru flow show research_agent", "summary lists its tags"},
		{"removing a tag from a version without it", "flow untag", []string{"research_agent", "canary", "--version", "1"},
			"see its tags with kitaru flow show research_agent", "summary shows"},
		{"removing default", "flow untag", []string{"research_agent", "default", "--version", "3"},
			"move it with kitaru flow tag research_agent default --version N --exclusive", ""},
		{"deleting a version holding exclusive tags", "flow deployments delete", []string{"research_agent", "--version", "2"},
			"move each with kitaru flow tag research_agent TAG --version N --exclusive (TAG: canary, solo)", ""},
		{"rolling back a tag that never moved", "flow rollback", []string{"research_agent", "solo"},
			"move it with kitaru flow tag research_agent solo --version N --exclusive", ""},
		{"rolling back a tag without history", "flow rollback", []string{"research_agent", "ghost"},
			"see its tags with kitaru flow show research_agent", ""},
		{"an unknown execution", "executions get", []string{"ex_00000000000000000000000000"},
			"list a flow's executions with kitaru executions list FLOW", "to find its id"},
		{"invoke inputs the schema refuses", "invoke", []string{"research_agent", "--version", "1", "--input", `{"topic": 7}`},
			"see the flow's parameters with kitaru flow deployments get FLOW --version N", ""},
		{"a status window further back than 30 days", "flow status", []string{"research_agent", "--since", "31d"},
			"pass --since 30d or less", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" says which command takes the next step", func(t *testing.T) {
			args := append(strings.Fields(tt.command), tt.args...)
			exit, _, stderr := kitaru(t, args...)
			if exit != cli.ExitError || !strings.HasPrefix(stderr, "error: ") || !strings.HasSuffix(stderr, "; "+tt.want+"\n") {
				t.Errorf("exit %d, stderr %q; want it to end %q", exit, stderr, tt.want)
			}
			if tt.gone != "" && strings.Contains(stderr, tt.gone) {
				t.Errorf("stderr %q says the next step twice: the server's %q and the command", stderr, tt.gone)
			}
			// -o json shows the same message, and the reason it came from.
			exit, _, stderr = kitaru(t, append(args, "-o", "json")...)
			if e := errorOf(t, tt.command, stderr); exit != cli.ExitError || !strings.HasSuffix(e.Message, tt.want) || e.Details[registry.DetailReason] == nil {
				t.Errorf("exit %d, error %+v", exit, e)
			}
		})
	}
	t.Run("a base URL that misses the API's root says to check it", func(t *testing.T) {
		t.Setenv(client.EnvServerURL, strings.TrimRight(os.Getenv(client.EnvServerURL), "/")+"/prefix")
		exit, _, stderr := kitaru(t, "flow", "list")
		if want := "; check the server URL (kitaru info shows it; KITARU_SERVER_URL overrides the saved one)\n"; exit != cli.ExitError || !strings.HasSuffix(stderr, want) {
			t.Errorf("exit %d, stderr %q; want it to end %q", exit, stderr, want)
		}
	})
}

// credentialServer answers every request with the refusal the real
// authenticator gives its credentials, as API Gateway passes it on.
func credentialServer(t *testing.T) (*httptest.Server, *auth.Signer) {
	t.Helper()
	secret, err := auth.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	signer := &auth.Signer{Secret: secret}
	authn := &auth.Authenticator{Keys: noKeys{}, Tokens: signer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := authn.Authenticate(r.Context(), r.Header.Get(auth.HeaderAuthorization), r.Header.Get(auth.HeaderProject))
		if err == nil {
			err = registry.Errorf(registry.CodeUnavailable, "this test server only refuses")
		}
		resp, rerr := httpapi.ErrorResponse(err, "req-1")
		if rerr != nil {
			t.Error(rerr)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write([]byte(resp.Body))
	}))
	t.Cleanup(srv.Close)
	return srv, signer
}

// noKeys is a key store holding no key.
type noKeys struct{}

func (noKeys) GetKey(context.Context, string) (auth.Key, error) {
	return auth.Key{}, registry.Errorf(registry.CodeNotFound, "no key")
}
func (noKeys) CreateKey(context.Context, auth.Key) error         { return nil }
func (noKeys) ListKeys(context.Context) ([]auth.Key, error)      { return nil, nil }
func (noKeys) TouchKey(context.Context, string, time.Time) error { return nil }
func (noKeys) RevokeKey(context.Context, string, time.Time) (auth.Key, error) {
	return auth.Key{}, registry.Errorf(registry.CodeNotFound, "no key")
}

func TestRefusedCredentialsGetTheLoginCommand(t *testing.T) {
	srv, signer := credentialServer(t)
	past := &auth.Signer{Secret: signer.Secret, Now: func() time.Time { return time.Now().Add(-2 * time.Hour) }}
	expired, _, err := past.Issue(registry.Principal{Project: "team-b", Role: registry.RoleProducer, ID: "k1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	teamA, _, err := signer.Issue(registry.Principal{Project: "team-a", Role: registry.RoleProducer, ID: "k1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	login := "; with a new API key, log in: kitaru login " + srv.URL + " --api-key KEY"
	for _, tt := range []struct {
		name, credential, want string
	}{
		{"an expired token", expired, login + "\n"},
		{"a token this server did not issue", "not.a.token", login + "\n"},
		{"an unknown API key", auth.KeyPrefix + "nosuchkeynosuchkeynosuchkey", login + "\n"},
		{"a token of another project", teamA, login + " --project team-b\n"},
	} {
		t.Run(tt.name+" in the saved login is answered with kitaru login", func(t *testing.T) {
			path := isolate(t)
			saveConnection(t, path, client.Connection{ServerURL: srv.URL, AuthToken: tt.credential, Project: "team-b"})
			exit, _, stderr := kitaru(t, "flow", "list")
			if exit != cli.ExitError || !strings.HasSuffix(stderr, tt.want) || strings.Contains(stderr, "kitaru auth token") {
				t.Errorf("exit %d, stderr %q; want it to end %q", exit, stderr, tt.want)
			}
		})
		t.Run(tt.name+" from KITARU_AUTH_TOKEN is answered with the variable", func(t *testing.T) {
			isolate(t)
			t.Setenv(client.EnvServerURL, srv.URL)
			t.Setenv(client.EnvAuthToken, tt.credential)
			t.Setenv(client.EnvProject, "team-b")
			exit, _, stderr := kitaru(t, "flow", "list")
			if want := "; set KITARU_AUTH_TOKEN to a valid API key or token of the project (it overrides any saved login)\n"; exit != cli.ExitError || !strings.HasSuffix(stderr, want) {
				t.Errorf("exit %d, stderr %q; want it to end %q", exit, stderr, want)
			}
		})
	}
	t.Run("login shows the server's refusal without telling to log in", func(t *testing.T) {
		isolate(t)
		exit, _, stderr := kitaru(t, "login", srv.URL, "--api-key", auth.KeyPrefix+"nosuchkeynosuchkeynosuchkey")
		if exit != cli.ExitError || strings.Contains(stderr, "kitaru login") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
}
