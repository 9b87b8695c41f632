package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
and its expiry.

A connection whose credential is already a token (KITARU_AUTH_TOKEN set to one,
as in CI) cannot make another; token then checks the one it has with the
server and prints it as it is, if it stays valid for at least a minute more
(or for --ttl, when given). Otherwise it fails, saying to get a new token from
an API key: kitaru login URL --api-key KEY, then kitaru auth token.
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
// ttl (0 for the server's default), or passes on the connection's token
// while it stays valid for ttl (0: a minute).
func runAuthToken(ctx context.Context, ttl time.Duration) (client.IssuedToken, error) {
	c, conn, err := serverClient()
	if err != nil {
		return client.IssuedToken{}, err
	}
	if !conn.HasAPIKey() {
		return currentToken(ctx, c, conn, max(ttl, minTokenLife), time.Now())
	}
	return c.CreateToken(ctx, ttl)
}

// minTokenLife is how long a token that kitaru auth token passes on must
// stay valid: long enough for the command that uses it.
const minTokenLife = time.Minute

// currentToken returns the connection's token when it is valid for at least
// need after now: its expiry read from the token, its validity from the
// server (GET /v1/status). Errors: precondition_failed (not a token, or
// expiring too soon), unauthenticated (the server refuses it).
func currentToken(ctx context.Context, c *client.Client, conn connection, need time.Duration, now time.Time) (client.IssuedToken, error) {
	from := conn.origin(conn.sources.AuthToken, client.EnvAuthToken)
	renew := fmt.Sprintf("a token cannot make another: get a new one from an API key (%s…) with \"kitaru login URL --api-key KEY\" and \"kitaru auth token\", or set %s to a fresh token or to an API key",
		auth.KeyPrefix, client.EnvAuthToken)
	var claims jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(conn.AuthToken, &claims); err != nil || claims.ExpiresAt == nil {
		return client.IssuedToken{}, registry.Errorf(registry.CodePreconditionFailed,
			"the credential from %s is neither an API key nor a Kitaru token; %s", from, renew)
	}
	expires := claims.ExpiresAt.UTC()
	if left := expires.Sub(now); left < need {
		state := fmt.Sprintf("expired at %s", expires.Format(time.RFC3339))
		if left > 0 {
			state = fmt.Sprintf("expires at %s, in %s, less than the %s asked for", expires.Format(time.RFC3339), left.Round(time.Second), shortDuration(need))
		}
		return client.IssuedToken{}, registry.Errorf(registry.CodePreconditionFailed, "the token from %s %s; %s", from, state, renew)
	}
	if _, err := c.Status(ctx); err != nil {
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == registry.CodeUnauthenticated && ce.Server != client.ServerKitaruDev {
			// The server's advice is to run kitaru auth token, which is this.
			return client.IssuedToken{}, &client.Error{StatusCode: ce.StatusCode, Code: ce.Code, RequestID: ce.RequestID, Server: ce.Server,
				Message: fmt.Sprintf("the server refuses the token from %s (%s); %s", from, diagnosis(ce.Message), renew)}
		}
		return client.IssuedToken{}, err
	}
	return client.IssuedToken{Token: conn.AuthToken, ExpiresAt: expires}, nil
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
