package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

// lockedBuffer is a bytes.Buffer safe to read while a command writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command prints help and succeeds", nil, cli.ExitOK},
		{"help succeeds", []string{"--help"}, cli.ExitOK},
		{"shell completion is generated", []string{"completion", "bash"}, cli.ExitOK},
		{"an unknown command is a usage error", []string{"deploi"}, cli.ExitUsage},
		{"an unknown flag is a usage error", []string{"dev", "--bogus"}, cli.ExitUsage},
		{"an extra argument is a usage error", []string{"dev", "extra"}, cli.ExitUsage},
		{"an address that cannot be listened on is an error", []string{"dev", "--addr", "127.0.0.1:notaport"}, cli.ExitError},
		{"a command group without a subcommand prints help and succeeds", []string{"flow"}, cli.ExitOK},
		{"an unknown subcommand of flow deployments is a usage error", []string{"flow", "deployments", "stream"}, cli.ExitUsage},
		{"an unknown subcommand of flow is a usage error", []string{"flow", "delete"}, cli.ExitUsage},
		{"an unknown subcommand of executions is a usage error", []string{"executions", "x"}, cli.ExitUsage},
		{"an unknown subcommand of auth is a usage error", []string{"auth", "x"}, cli.ExitUsage},
		{"an unknown subcommand of admin keys is a usage error", []string{"admin", "keys", "rotate"}, cli.ExitUsage},
		{"an unknown flag of a command group is a usage error", []string{"flow", "--bogus"}, cli.ExitUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := cli.Run(context.Background(), tt.args, &stdout, &stderr); got != tt.want {
				t.Errorf("exit %d, want %d; stderr %s", got, tt.want, stderr.String())
			}
		})
	}
}

func TestDevServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- cli.Run(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--memory"}, &stdout, &stderr)
	}()

	urlPattern := regexp.MustCompile(`at (http://127\.0\.0\.1:\d+)`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == ""; time.Sleep(20 * time.Millisecond) {
		if m := urlPattern.FindStringSubmatch(stdout.String()); m != nil {
			url = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no URL printed; stdout %q stderr %q", stdout.String(), stderr.String())
		}
	}
	t.Run("the banner names the backend and the stacks", func(t *testing.T) {
		for _, want := range []string{"registry: SQLite in memory", "blobs:    in memory", "dev (remote-executable, default)", "local (local-only"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("banner %q lacks %q", stdout.String(), want)
			}
		}
	})
	t.Run("the printed URL serves the API with the printed key", func(t *testing.T) {
		key := regexp.MustCompile(`kat_[a-z2-7]{16}_[A-Za-z0-9_-]{43}`).FindString(stdout.String())
		if key == "" {
			t.Fatalf("banner %q shows no API key", stdout.String())
		}
		req, _ := http.NewRequest("GET", url+"/v1/stacks", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
	t.Run("cancelling shuts down cleanly", func(t *testing.T) {
		cancel()
		select {
		case code := <-exit:
			if code != cli.ExitOK {
				t.Errorf("exit %d; stderr %s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("kitaru dev did not stop")
		}
	})
}

func TestUsageErrorsSayWhatIsWrong(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantCommand string
		wantMessage string
	}{
		{"an unknown subcommand names itself and its group", []string{"flow", "deployments", "stream", "-o", "json"}, "flow deployments", `unknown command "stream" for "kitaru flow deployments"`},
		{"a stray argument is refused", []string{"flow", "list", "extra", "--output=json"}, "flow list", `unknown command "extra" for "kitaru flow list"`},
		{"a missing argument is refused", []string{"invoke", "-o", "json"}, "invoke", "accepts 1 arg(s), received 0"},
		{"an unknown flag is refused even before -o", []string{"executions", "get", "ex_1", "--bogus", "-o", "json"}, "executions get", "unknown flag: --bogus"},
		{"an unknown command of kitaru itself is refused", []string{"deploi", "-ojson"}, "kitaru", `unknown command "deploi" for "kitaru"`},
	}
	for _, tt := range tests {
		t.Run(tt.name+", with -o json as the error envelope on stderr", func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, tt.args...)
			if exit != cli.ExitUsage || stdout != "" {
				t.Fatalf("exit %d, stdout %q; want exit 2 and nothing on stdout", exit, stdout)
			}
			got := errorOf(t, tt.wantCommand, stderr)
			if got.Code != registry.CodeInvalidArgument || !strings.HasPrefix(got.Message, tt.wantMessage) {
				t.Errorf("error %+v; want code %s and a message starting %q", got, registry.CodeInvalidArgument, tt.wantMessage)
			}
		})
	}
	t.Run("in text the error says where the usage is", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "flow", "destroy")
		want := "kitaru: unknown command \"destroy\" for \"kitaru flow\"\nRun 'kitaru flow --help' for usage.\n"
		if exit != cli.ExitUsage || stdout != "" || stderr != want {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 and %q", exit, stdout, stderr, want)
		}
	})
}
