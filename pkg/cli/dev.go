package cli

import (
	"fmt"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/devstack"
)

func newDevCommand() *cobra.Command {
	var cfg devstack.Config
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the Kitaru API locally on an in-process DynamoDB",
		Long: `dev serves the Kitaru HTTP API from one process, running the same handlers
as the AWS Lambda functions behind a local stand-in for API Gateway.

The registry lives in an in-process DynamoDB (minidyn) and is gone when dev
stops; pass --dynamodb-endpoint to keep it in DynamoDB Local, LocalStack or AWS.
Every request acts as principal "dev" with role producer in project "default".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			cfg.FlowOutput = cmd.ErrOrStderr()
			srv, err := devstack.Start(ctx, cfg)
			if err != nil {
				return fmt.Errorf("start kitaru dev: %w", err)
			}
			printBanner(cmd, srv)
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
	f.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL (DynamoDB Local, LocalStack, AWS); empty runs an in-process DynamoDB")
	f.StringVar(&cfg.Table, "table", devstack.DefaultTable, "DynamoDB table of the registry, created if missing")
	f.StringVar(&cfg.Python, "python", "python3", "Python interpreter that runs flows")
	f.StringVar(&cfg.APIKey, "api-key", "", "producer API key of project default to accept (kat_…); empty creates one and prints it")
	return cmd
}

func printBanner(cmd *cobra.Command, srv *devstack.Server) {
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
	fmt.Fprintf(cmd.OutOrStdout(), `kitaru dev: serving the Kitaru API at %s
  DynamoDB: %s, table %s
  stacks:   %s
  API key:  %s  (producer, project %s)
Connect with:
  kitaru login %s --api-key %s --project %s
or export KITARU_SERVER_URL=%s KITARU_AUTH_TOKEN=%s KITARU_PROJECT=%s
Press Ctrl-C to stop.
`, srv.URL(), srv.Backend(), srv.Table(), strings.Join(stacks, ", "), srv.APIKey(), devstack.Project,
		srv.URL(), srv.APIKey(), devstack.Project, srv.URL(), srv.APIKey(), devstack.Project)
}
