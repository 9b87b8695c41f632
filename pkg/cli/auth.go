package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

func newAuthCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Short-lived credentials for the Kitaru server",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAuthTokenCommand())
	return cmd
}

type authTokenOptions struct {
	ttl    time.Duration
	output outputFlag
}

func newAuthTokenCommand() *cobra.Command {
	var opts authTokenOptions
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Exchange the connection's API key for a short-lived token",
		Long: `token exchanges the active connection's API key for a bearer token valid in
its project for --ttl (1m to ` + shortDuration(auth.MaxTokenTTL) + `) and prints only the token, so that
$(kitaru auth token) can be used in scripts. With -o json it prints the token
and its expiry. A connection whose credential is already a token cannot
make another: it needs an API key.
` + serverHelp,
		Example: `  curl -H "Authorization: Bearer $(kitaru auth token)" "$KITARU_SERVER_URL/v1/status"
  kitaru auth token --ttl 1h -o json`,
		Args: cobra.MatchAll(cobra.NoArgs, func(*cobra.Command, []string) error {
			if opts.ttl < time.Minute || opts.ttl > auth.MaxTokenTTL {
				return fmt.Errorf("--ttl %s is out of range: use 1m to %s", shortDuration(opts.ttl), shortDuration(auth.MaxTokenTTL))
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ttl := opts.ttl
			if !cmd.Flags().Changed("ttl") {
				ttl = 0 // the server's default, which the flag's default shows
			}
			t, err := runAuthToken(cmd.Context(), ttl)
			if err != nil {
				return report(cmd.ErrOrStderr(), "auth token", opts.output, err)
			}
			if opts.output.json() {
				// The bare {"token", "expires_at"}, as scripts read it with jq -r .token.
				return writeJSON(cmd.OutOrStdout(), t)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			return err
		},
	}
	f := cmd.Flags()
	f.DurationVar(&opts.ttl, "ttl", auth.DefaultTokenTTL, "how long the token is valid")
	f.VarP(&opts.output, "output", "o", "output format: text (the token alone) or json")
	return cmd
}

// runAuthToken exchanges the connection's API key for a token valid for
// ttl (0 for the server's default).
func runAuthToken(ctx context.Context, ttl time.Duration) (client.IssuedToken, error) {
	c, conn, err := serverClient()
	if err != nil {
		return client.IssuedToken{}, err
	}
	if !conn.HasAPIKey() {
		return client.IssuedToken{}, registry.Errorf(registry.CodePreconditionFailed,
			"kitaru auth token needs an API key (%s…), but the credential from %s is a token; set %s to an API key or run \"kitaru login URL --api-key KEY\"",
			auth.KeyPrefix, conn.origin(conn.sources.AuthToken, client.EnvAuthToken), client.EnvAuthToken)
	}
	return c.CreateToken(ctx, ttl)
}

// shortDuration writes whole hours and minutes as 1h and 15m, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
