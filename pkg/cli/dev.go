package cli

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

// devAPIKeyEnv holds kitaru dev's API key, so that it need not be on the
// command line; dev removes it from its environment once read.
const devAPIKeyEnv = "KITARU_DEV_API_KEY"

func newDevCommand() *cobra.Command {
	var cfg devstack.Config
	var keyFile string
	var memory bool
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the Kitaru API locally, keeping its data in an embedded SQLite file",
		Long: `dev serves the Kitaru HTTP API from one process, running the same handlers
as the AWS Lambda functions behind a local stand-in for API Gateway.

Every request needs a credential, as on AWS: the producer API key of project
"default" that dev prints at start, or a token made from it (kitaru auth
token), sent as "Authorization: Bearer ...". Connect with the lines it
prints: kitaru login URL --api-key <the printed key> --project default.

The key: without one given, dev makes a new key at every start. Keys are
kept in the registry, so a login saved against an earlier run on the same
data still works; after a --memory run it is refused (kitaru then says to use
the printed key). To keep one key across restarts, give it in $KITARU_DEV_API_KEY or in a
file named by --api-key-file (--api-key works too, but every process on this
machine can read it in the process list); dev then accepts that key instead of
making one and shows it masked. Tokens end with the run that made them.

Data: by default the registry lives in an embedded SQLite file and bundles
and results beside it, in --data DIR (default
$XDG_DATA_HOME/kitaru/dev/local, or ~/.local/share/kitaru/dev/local), so
deployments, tags, executions and the keys of earlier runs outlive a restart.
--memory keeps everything in memory instead: all is lost when dev stops.
With --dynamodb-endpoint the registry lives in that DynamoDB (DynamoDB Local,
LocalStack or AWS; table --table, created if missing) and bundles and results
in --data (default $XDG_DATA_HOME/kitaru/dev/<endpoint>/<table>).

Flows run with a minimal environment, isolated from this process where the
kernel allows (docs/dev-runner.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			source, err := devAPIKey(cmd, &cfg, keyFile)
			if err != nil {
				return err
			}
			if cfg.DataDir, err = devDataDir(cmd, cfg, memory); err != nil {
				return err
			}
			// A flow that is not isolated runs as this user: keep it out of
			// this process's environment, memory and descriptors.
			_ = pyrunner.ProtectServer()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			cfg.FlowOutput = cmd.ErrOrStderr()
			srv, err := devstack.Start(ctx, cfg)
			if err != nil {
				return fmt.Errorf("start kitaru dev: %w", err)
			}
			printBanner(cmd, srv, source)
			<-ctx.Done()
			fmt.Fprintln(cmd.OutOrStdout(), "kitaru dev: shutting down")
			if err := srv.Close(); err != nil {
				return fmt.Errorf("stop kitaru dev: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", devstack.DefaultAddr, "address to listen on (host:port)")
	f.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (DynamoDB Local, LocalStack, AWS) to keep the registry in instead of SQLite")
	f.StringVar(&cfg.Table, "table", devstack.DefaultTable, "DynamoDB table of the registry with --dynamodb-endpoint, created if missing")
	f.StringVar(&cfg.DataDir, "data", "", "directory of the SQLite registry (registry.db), bundles and large results; default $XDG_DATA_HOME/kitaru/dev/local, or .../<endpoint>/<table> with --dynamodb-endpoint")
	f.StringVar(&cfg.DataDir, "data-dir", "", "the same as --data")
	_ = f.MarkDeprecated("data-dir", "use --data DIR, or --memory to keep everything in memory")
	f.BoolVar(&memory, "memory", false, "keep the registry, bundles and results in memory only: everything is gone when dev stops")
	f.StringVar(&cfg.Python, "python", "python3", "Python interpreter that runs flows, resolved once at start to the executable behind it (a pyenv shim works)")
	f.StringVar(&cfg.APIKey, "api-key", "", "producer API key of project default (kat_…) to accept instead of making a new one; visible in the process list: prefer $"+devAPIKeyEnv+" or --api-key-file")
	f.StringVar(&keyFile, "api-key-file", "", "file holding the producer API key of project default to accept instead of making a new one")
	return cmd
}

// devDataDir is where dev keeps its data: "" (in memory) with --memory,
// --data when given, else devstack.DefaultDataDir. --data-dir ” (its old
// way to ask for memory) still means memory.
func devDataDir(cmd *cobra.Command, cfg devstack.Config, memory bool) (string, error) {
	given := cmd.Flags().Changed("data") || cmd.Flags().Changed("data-dir")
	switch {
	case memory && given:
		return "", registry.Errorf(registry.CodeInvalidArgument, "--memory keeps everything in memory, so it takes no --data directory; pass one of them")
	case memory:
		return "", nil
	case given:
		return cfg.DataDir, nil
	}
	return devstack.DefaultDataDir(cfg.DynamoDBEndpoint, cfg.Table)
}

// devAPIKey takes the key from at most one of --api-key, --api-key-file and
// $KITARU_DEV_API_KEY (then unset), and says how to refer to it in the
// banner: "" for a key dev makes itself.
func devAPIKey(cmd *cobra.Command, cfg *devstack.Config, keyFile string) (string, error) {
	fromEnv, envSet := os.LookupEnv(devAPIKeyEnv)
	_ = os.Unsetenv(devAPIKeyEnv)
	var sources []string
	source := ""
	if cfg.APIKey != "" {
		sources, source = append(sources, "--api-key"), "<the key given with --api-key>"
		fmt.Fprintf(cmd.ErrOrStderr(), "kitaru dev: warning: --api-key puts the key in the process list; use $%s or --api-key-file\n", devAPIKeyEnv)
	}
	if keyFile != "" {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return "", fmt.Errorf("read the API key: %w", err)
		}
		cfg.APIKey = strings.TrimSpace(string(b))
		sources, source = append(sources, "--api-key-file"), `"$(cat `+shellQuote(keyFile)+`)"`
	}
	if envSet && fromEnv != "" {
		cfg.APIKey = strings.TrimSpace(fromEnv)
		sources, source = append(sources, "$"+devAPIKeyEnv), `"$`+devAPIKeyEnv+`"`
	}
	if len(sources) > 1 {
		return "", fmt.Errorf("the API key is given by both %s; give it once", strings.Join(sources, " and "))
	}
	return source, nil
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// printBanner prints where dev serves and how to connect. A key dev made is
// printed (once, here: scripts/e2e.sh reads the `or export` line); a given
// key is shown masked, and the commands refer to where it came from.
func printBanner(cmd *cobra.Command, srv *devstack.Server, keySource string) {
	var stacks []string
	for _, st := range devstack.Stacks().All {
		kind := "remote-executable"
		if !st.RemoteExecutable {
			kind = "local-only, deploys refused"
		}
		if st.Name == devstack.Stacks().Default {
			kind += ", default"
		}
		stacks = append(stacks, fmt.Sprintf("%s (%s)", st.Name, kind))
	}
	shown, token, origin := srv.APIKey(), srv.APIKey(), "new"
	if keySource != "" {
		shown, token, origin = auth.Mask(srv.APIKey()), keySource, "given"
	}
	blobs := "in memory"
	if dir := srv.BlobDir(); dir != "" {
		blobs = dir
	}
	flows := "isolated (own user, PID and mount namespaces, minimal environment)"
	switch {
	case runtime.GOOS == "windows":
		flows = "not run on Windows: every invocation fails (Runner.Unavailable); use WSL or the AWS stack (docs/dev-runner.md)"
	case runtime.GOOS != "linux":
		flows = "own session and minimal environment only: user namespaces are Linux-only (docs/dev-runner.md)"
	case !srv.FlowsIsolated():
		flows = "own session and minimal environment only: this kernel allows no user namespaces (docs/dev-runner.md)"
	case srv.FlowsWarm():
		flows = "isolated (own user, PID and mount namespaces, minimal environment), forked from a warm interpreter"
	}
	fmt.Fprintf(cmd.OutOrStdout(), `kitaru dev: serving the Kitaru API at %s
  registry: %s
  blobs:    %s
  flows:    %s
  stacks:   %s
  API key:  %s  (%s; producer, project %s)
Connect with:
  kitaru login %s --api-key %s --project %s
or export KITARU_SERVER_URL=%s KITARU_AUTH_TOKEN=%s KITARU_PROJECT=%s
Press Ctrl-C to stop.
`, srv.URL(), srv.Backend(), blobs, flows, strings.Join(stacks, ", "), shown, origin, devstack.Project,
		srv.URL(), token, devstack.Project, srv.URL(), token, devstack.Project)
}
