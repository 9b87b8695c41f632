package client_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// envOf is a getenv over a map, so these tests never read the real
// environment or the real user config.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigPath(t *testing.T) {
	dir := t.TempDir()
	got, err := client.ConfigPath(envOf(map[string]string{client.EnvConfigDir: dir}))
	if err != nil || got != filepath.Join(dir, "config.json") {
		t.Errorf("ConfigPath = %q, %v", got, err)
	}
}

func TestLoadConnection(t *testing.T) {
	saved := client.Connection{ServerURL: "https://file.example.com", AuthToken: "kat_file_key", Project: "from-file"}
	tests := []struct {
		name        string
		file        *client.Connection
		env         map[string]string
		want        client.Connection
		wantSources client.Sources
	}{
		{
			name:        "nothing configured leaves every value not set",
			want:        client.Connection{},
			wantSources: client.Sources{ServerURL: client.SourceNotSet, AuthToken: client.SourceNotSet, Project: client.SourceNotSet},
		},
		{
			name:        "the file alone gives every value",
			file:        &saved,
			want:        saved,
			wantSources: client.Sources{ServerURL: client.SourceFile, AuthToken: client.SourceFile, Project: client.SourceFile},
		},
		{
			name:        "each environment variable overrides its value only",
			file:        &saved,
			env:         map[string]string{client.EnvAuthToken: "kat_env_key", client.EnvProject: "from-env"},
			want:        client.Connection{ServerURL: "https://file.example.com", AuthToken: "kat_env_key", Project: "from-env"},
			wantSources: client.Sources{ServerURL: client.SourceFile, AuthToken: client.SourceEnv, Project: client.SourceEnv},
		},
		{
			name:        "the environment alone is a whole connection",
			env:         map[string]string{client.EnvServerURL: "https://env.example.com", client.EnvAuthToken: "tok"},
			want:        client.Connection{ServerURL: "https://env.example.com", AuthToken: "tok"},
			wantSources: client.Sources{ServerURL: client.SourceEnv, AuthToken: client.SourceEnv, Project: client.SourceNotSet},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{client.EnvConfigDir: dir}
			for k, v := range tt.env {
				env[k] = v
			}
			if tt.file != nil {
				if err := client.SaveConnection(filepath.Join(dir, "config.json"), *tt.file); err != nil {
					t.Fatal(err)
				}
			}
			got, sources, err := client.LoadConnection(envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("connection (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSources, sources); diff != "" {
				t.Errorf("sources (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadConnectionRejectsABrokenFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := client.LoadConnection(envOf(map[string]string{client.EnvConfigDir: dir}))
	if err == nil || !strings.Contains(err.Error(), "kitaru logout") {
		t.Errorf("err = %v; want one saying to log out and in again", err)
	}
}

func TestSaveConnection(t *testing.T) {
	t.Run("the file is private and its directory is created private", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nested", "kitaru")
		path := filepath.Join(dir, "config.json")
		if err := client.SaveConnection(path, client.Connection{ServerURL: "https://k.example.com", AuthToken: "kat_x"}); err != nil {
			t.Fatal(err)
		}
		assertMode(t, path, 0o600)
		assertMode(t, dir, 0o700|os.ModeDir)
	})
	t.Run("a readable existing file becomes private and is replaced", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, []byte(`{"server_url": "https://old.example.com"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		want := client.Connection{ServerURL: "https://new.example.com", AuthToken: "kat_new", Project: "p"}
		if err := client.SaveConnection(path, want); err != nil {
			t.Fatal(err)
		}
		assertMode(t, path, 0o600)
		got, _, err := client.LoadConnection(envOf(map[string]string{client.EnvConfigDir: filepath.Dir(path)}))
		if err != nil || got != want {
			t.Errorf("loaded %+v, %v; want %+v", got, err, want)
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("the directory holds %d entries; want only config.json (no temporary file left)", len(entries))
		}
	})
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode(); got != want {
		t.Errorf("%s has mode %v, want %v", path, got, want)
	}
}

func TestRemoveConnectionIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := client.SaveConnection(path, client.Connection{ServerURL: "https://k.example.com"}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false} {
		if removed, err := client.RemoveConnection(path); err != nil || removed != want {
			t.Errorf("removal %d: removed %v, err %v; want %v", i+1, removed, err, want)
		}
	}
}

func TestConnectionRequire(t *testing.T) {
	tests := []struct {
		name string
		conn client.Connection
		want []string // "" when nothing is missing
	}{
		{"nothing set names login and both variables", client.Connection{}, []string{`no Kitaru server: run "kitaru login URL --api-key KEY --project P"`, "KITARU_SERVER_URL and KITARU_AUTH_TOKEN"}},
		{"a missing URL names KITARU_SERVER_URL", client.Connection{AuthToken: "kat_x"}, []string{"no Kitaru server URL: set KITARU_SERVER_URL"}},
		{"a missing credential names KITARU_AUTH_TOKEN and the server", client.Connection{ServerURL: "https://k.example.com"}, []string{"no credentials for the Kitaru server at https://k.example.com: set KITARU_AUTH_TOKEN"}},
		{"a URL and a credential are enough without a project", client.Connection{ServerURL: "https://k.example.com", AuthToken: "kat_x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.conn.Require()
			if tt.want == nil {
				if err != nil {
					t.Errorf("Require() = %v, want nil", err)
				}
				return
			}
			if registry.CodeOf(err) != registry.CodePreconditionFailed || strings.Contains(err.Error(), "\n") {
				t.Errorf("Require() = %v (code %s); want one line, precondition_failed", err, registry.CodeOf(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Require() = %q, lacks %q", err, w)
				}
			}
			if _, err := client.FromConnection(tt.conn); registry.CodeOf(err) != registry.CodePreconditionFailed {
				t.Errorf("FromConnection err = %v, want the same precondition_failed", err)
			}
		})
	}
}

func TestFromConnectionSendsTheCredentialAndProject(t *testing.T) {
	f := newFakeServer(t, http.StatusOK, `{"server_version":"1.2.3","project":"production","principal":"key1","role":"producer","credential":"api_key"}`)
	c, err := client.FromConnection(client.Connection{ServerURL: f.URL + "/", AuthToken: "kat_abc123", Project: "production"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := client.Status{ServerVersion: "1.2.3", Project: "production", Principal: "key1", Role: registry.RoleProducer, Credential: registry.CredentialAPIKey}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	r := f.last(t)
	if r.Method != "GET" || r.Path != "/v1/status" || r.Header.Get("Authorization") != "Bearer kat_abc123" || r.Header.Get("X-Kitaru-Project") != "production" {
		t.Errorf("request %s %s, headers %v", r.Method, r.Path, r.Header)
	}
}

func TestCreateToken(t *testing.T) {
	tests := []struct {
		name    string
		ttl     int // minutes
		wantTTL any
	}{
		{"a TTL is sent in seconds", 60, float64(3600)},
		{"no TTL leaves the server's default", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeServer(t, http.StatusOK, `{"token":"eyJ.tok.sig","expires_at":"2030-01-01T00:15:00Z"}`)
			c, _ := client.New(f.URL, client.WithAuthToken("kat_abc123"))
			tok, err := c.CreateToken(context.Background(), time.Duration(tt.ttl)*time.Minute)
			if err != nil || tok.Token != "eyJ.tok.sig" || tok.ExpiresAt.IsZero() {
				t.Fatalf("token %+v, %v", tok, err)
			}
			r := f.last(t)
			if r.Method != "POST" || r.Path != "/v1/auth/token" || r.Body["ttl_seconds"] != tt.wantTTL {
				t.Errorf("request %s %s body %v; want ttl_seconds %v", r.Method, r.Path, r.Body, tt.wantTTL)
			}
		})
	}
	t.Run("a token presented instead of a key is permission_denied", func(t *testing.T) {
		f := newFakeServer(t, http.StatusForbidden, `{"error":{"code":"permission_denied","message":"tokens cannot make tokens; use an API key"}}`)
		c, _ := client.New(f.URL, client.WithAuthToken("eyJ.tok.sig"))
		if _, err := c.CreateToken(context.Background(), 0); !errors.Is(err, registry.ErrPermissionDenied) {
			t.Errorf("err = %v, want permission_denied", err)
		}
	})
}
