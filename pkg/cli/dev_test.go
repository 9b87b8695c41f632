package cli_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// runDev starts `kitaru dev args...` until the test ends and returns its
// URL and what it printed on stdout; in memory unless args say where its
// data goes.
func runDev(t *testing.T, args ...string) (url string, stdout *lockedBuffer) {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool {
		return a == "--data" || a == "--data-dir" || a == "--dynamodb-endpoint" || a == "--memory"
	}) {
		args = append(args, "--memory")
	}
	return runDevAsGiven(t, args...)
}

// runDevAsGiven is runDev with exactly args.
func runDevAsGiven(t *testing.T, args ...string) (url string, stdout *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut lockedBuffer
	exit := make(chan int, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		exit <- cli.Run(ctx, append([]string{"dev", "--addr", "127.0.0.1:0"}, args...), &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("kitaru dev did not stop")
		}
	})
	urlPattern := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := urlPattern.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "or export ") {
			return m[1], &out
		}
		select {
		case code := <-exit:
			t.Fatalf("kitaru dev exited %d; stdout %q stderr %q", code, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed; stdout %q stderr %q", out.String(), errOut.String())
		}
	}
}

func statusWith(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/stacks", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestDevDoesNotEchoAGivenAPIKey(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, key string) []string
	}{
		{"a key in KITARU_DEV_API_KEY", func(t *testing.T, key string) []string {
			t.Setenv("KITARU_DEV_API_KEY", key)
			return nil
		}},
		{"a key in --api-key-file", func(t *testing.T, key string) []string {
			file := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"--api-key-file", file}
		}},
		{"a key in --api-key", func(t *testing.T, key string) []string { return []string{"--api-key", key} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, key, err := auth.NewKey([]string{"default"}, registry.RoleProducer, "test", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			url, out := runDev(t, tt.setup(t, key)...)
			if strings.Contains(out.String(), key) {
				t.Errorf("the banner shows the given key:\n%s", out.String())
			}
			if !strings.Contains(out.String(), auth.Mask(key)) {
				t.Errorf("the banner does not show the masked key %q:\n%s", auth.Mask(key), out.String())
			}
			if status := statusWith(t, url, key); status != http.StatusOK {
				t.Errorf("the given key answered %d, want 200", status)
			}
			if v, set := os.LookupEnv("KITARU_DEV_API_KEY"); set {
				t.Errorf("KITARU_DEV_API_KEY=%q is still in kitaru dev's environment", v)
			}
		})
	}
}

func TestDevPrintsAGeneratedKeyInItsExportLine(t *testing.T) {
	t.Setenv("KITARU_DEV_API_KEY", "")
	url, out := runDev(t)
	line := regexp.MustCompile(`(?m)^or export KITARU_SERVER_URL=(\S+) KITARU_AUTH_TOKEN=(kat_\S+) KITARU_PROJECT=default$`).FindStringSubmatch(out.String())
	if line == nil || line[1] != url {
		t.Fatalf("no export line for scripts/e2e.sh in:\n%s", out.String())
	}
	if status := statusWith(t, url, line[2]); status != http.StatusOK {
		t.Errorf("the printed key answered %d, want 200", status)
	}
}

func TestDevRefusesTwoKeySources(t *testing.T) {
	t.Setenv("KITARU_DEV_API_KEY", "kat_x")
	var stdout, stderr lockedBuffer
	if got := cli.Run(context.Background(), []string{"dev", "--addr", "127.0.0.1:0", "--api-key", "kat_y"}, &stdout, &stderr); got != cli.ExitError || !strings.Contains(stderr.String(), "KITARU_DEV_API_KEY") {
		t.Errorf("exit %d, stderr %q; want an error naming both sources", got, stderr.String())
	}
}

func TestDevKeepsBlobsBesideAPersistentTable(t *testing.T) {
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		t.Skip("set DYNAMODB_ENDPOINT to a DynamoDB Local (scripts/dynamodb-local.sh start)")
	}
	t.Setenv("KITARU_DEV_API_KEY", "")
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"by default under XDG_DATA_HOME", nil, filepath.Join(data, "kitaru", "dev")},
		{"in --data when given", []string{"--data", filepath.Join(data, "mine")}, filepath.Join(data, "mine", "blobs")},
		{"in memory with --memory", []string{"--memory"}, "blobs:    in memory"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := fmt.Sprintf("cli-data-%d-%d", time.Now().UnixNano(), i)
			args := append([]string{"--dynamodb-endpoint", endpoint, "--table", table}, tt.args...)
			_, out := runDev(t, args...)
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("the banner does not mention %q:\n%s", tt.want, out.String())
			}
		})
	}
}

func TestDevKeepsItsDataInSQLite(t *testing.T) {
	t.Setenv("KITARU_DEV_API_KEY", "")
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	local := filepath.Join(data, "kitaru", "dev", "local")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"by default in a file under XDG_DATA_HOME, blobs beside it", nil, nil},
		{"in the --data directory", []string{"--data", filepath.Join(data, "mine")},
			[]string{"registry: SQLite " + filepath.Join(data, "mine", "registry.db"), "blobs:    " + filepath.Join(data, "mine", "blobs")}},
		{"in memory with --memory", []string{"--memory"}, []string{"registry: SQLite in memory", "blobs:    in memory"}},
		{"in --data-dir, the deprecated name of --data", []string{"--data-dir", filepath.Join(data, "old")},
			[]string{"registry: SQLite " + filepath.Join(data, "old", "registry.db")}},
	}
	tests[0].want = []string{"registry: SQLite " + filepath.Join(local, "registry.db"), "blobs:    " + filepath.Join(local, "blobs")}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out := runDevAsGiven(t, tt.args...)
			for _, want := range tt.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the banner does not say %q:\n%s", want, out.String())
				}
			}
		})
	}
	t.Run("the default is the local data directory", func(t *testing.T) {
		if dir, err := devstack.DefaultDataDir("", ""); err != nil || dir != local {
			t.Errorf("DefaultDataDir = %q, %v; want %q", dir, err, local)
		}
	})
	t.Run("--memory with --data is refused", func(t *testing.T) {
		var stdout, stderr lockedBuffer
		if got := cli.Run(context.Background(), []string{"dev", "--addr", "127.0.0.1:0", "--memory", "--data", data}, &stdout, &stderr); got == cli.ExitOK || !strings.Contains(stderr.String(), "--memory") {
			t.Errorf("exit %d, stderr %q; want a refusal naming --memory", got, stderr.String())
		}
	})
}

func TestALoginKitaruDevRefusesSaysToUseThePrintedKey(t *testing.T) {
	path := isolate(t)
	t.Setenv("KITARU_DEV_API_KEY", "")
	url, _ := runDev(t)
	// A login saved against an earlier run: its key is unknown to this one.
	_, stale, err := auth.NewKey([]string{"default"}, registry.RoleProducer, "earlier run", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	saveConnection(t, path, client.Connection{ServerURL: url, AuthToken: stale, Project: "default"})

	t.Run("kitaru dev names itself on every answer, refusals included", func(t *testing.T) {
		req, _ := http.NewRequest("GET", url+"/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+stale)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get(devstack.ServerHeader) != devstack.ServerName {
			t.Errorf("status %d, %s %q", resp.StatusCode, devstack.ServerHeader, resp.Header.Get(devstack.ServerHeader))
		}
	})
	wantHint := func(t *testing.T, stderr, loginURL string) {
		t.Helper()
		for _, want := range []string{"kitaru dev refuses this credential", "the API key it printed when it started", "kitaru login " + loginURL + " --api-key <the printed key> --project default"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr %q lacks %q", stderr, want)
			}
		}
		if strings.Contains(stderr, "operator") {
			t.Errorf("stderr %q sends the user to an operator", stderr)
		}
	}
	t.Run("a command with the saved login", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "list")
		if exit != cli.ExitError {
			t.Errorf("exit %d", exit)
		}
		wantHint(t, stderr, url)
	})
	t.Run("-o json carries the same advice", func(t *testing.T) {
		_, _, stderr := kitaru(t, "status", "-o", "json")
		e := errorOf(t, "status", stderr)
		if e.Code != registry.CodeUnauthenticated {
			t.Errorf("error %+v", e)
		}
		wantHint(t, e.Message, url)
	})
	t.Run("a login with a stale key names the URL logged in to", func(t *testing.T) {
		saveConnection(t, path, client.Connection{ServerURL: "http://127.0.0.1:1", AuthToken: stale, Project: "default"})
		exit, _, stderr := kitaru(t, "login", url, "--api-key", stale)
		if exit != cli.ExitError || !strings.Contains(stderr, "nothing was saved") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
		wantHint(t, stderr, url)
	})
	t.Run("a stale key in KITARU_AUTH_TOKEN is to be replaced there", func(t *testing.T) {
		t.Setenv(client.EnvServerURL, url)
		t.Setenv(client.EnvAuthToken, stale)
		_, _, stderr := kitaru(t, "flow", "list")
		if !strings.Contains(stderr, "set KITARU_AUTH_TOKEN to that key") {
			t.Errorf("stderr %q", stderr)
		}
	})
}

func TestDevHelpSaysWhatItDoes(t *testing.T) {
	out := mustKitaru(t, "dev", "--help")
	for _, want := range []string{
		"Every request needs a credential",
		"the producer API key of project\n\"default\" that dev prints at start",
		"kitaru login URL --api-key <the printed key> --project default",
		"new key at every start",
		"accepts that key instead of\nmaking one",
		"outlive a restart",
		"--memory keeps everything in memory",
		"--dynamodb-endpoint",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("kitaru dev --help lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Every request acts as") {
		t.Errorf("kitaru dev --help still says requests need no key:\n%s", out)
	}
}
