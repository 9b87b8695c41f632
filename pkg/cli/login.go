package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

type loginOptions struct {
	apiKey  string
	project string
}

func newLoginCommand() *cobra.Command {
	var opts loginOptions
	cmd := &cobra.Command{
		Use:   "login URL --api-key KEY [--project P]",
		Short: "Save the connection to a Kitaru server",
		Long: `login checks an API key against the Kitaru server at URL (GET /v1/status)
and saves the server URL, the key and the project in the config file
($KITARU_CONFIG_DIR/config.json, else kitaru/config.json in the user config
directory), readable only by you. If the server refuses the key nothing is
saved.

Without --project the key's only project is used. KITARU_SERVER_URL,
KITARU_AUTH_TOKEN and KITARU_PROJECT, when set, override the saved values.`,
		Example: `  kitaru login https://kitaru.example.com --api-key kat_abc123 --project production
  kitaru status`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(*cobra.Command, []string) error {
			switch {
			case opts.apiKey == "":
				return errors.New("pass the API key with --api-key kat_…")
			case !strings.HasPrefix(opts.apiKey, auth.KeyPrefix):
				return fmt.Errorf("--api-key takes an API key (%s…); to use a short-lived token set %s instead", auth.KeyPrefix, client.EnvAuthToken)
			}
			if opts.project != "" {
				if err := registry.ValidateProject(opts.project); err != nil {
					return err
				}
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := runLogin(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], opts); err != nil {
				return report(cmd.ErrOrStderr(), "login", "", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.apiKey, "api-key", "", "API key (kat_…) to authenticate with")
	f.StringVar(&opts.project, "project", "", "project to work in (default: the key's only project)")
	return cmd
}

func runLogin(ctx context.Context, stdout, stderr io.Writer, serverURL string, opts loginOptions) error {
	path, err := client.ConfigPath(os.Getenv)
	if err != nil {
		return err
	}
	conn := client.Connection{ServerURL: serverURL, AuthToken: opts.apiKey, Project: opts.project}
	c, err := client.FromConnection(conn)
	if err != nil {
		return err
	}
	s, err := c.Status(ctx)
	var ce *client.Error
	if errors.As(err, &ce) && ce.Code == registry.CodeUnauthenticated && ce.Server == client.ServerKitaruDev {
		// Said here, with the URL being logged in to (report would name the saved one).
		return &registry.Error{Code: ce.Code, Message: devRefusal(ce.Message, c.BaseURL(), false) + "; nothing was saved"}
	}
	if err != nil {
		return err
	}
	if opts.project != "" && s.Project != opts.project {
		return registry.Errorf(registry.CodePermissionDenied, "the server put this key in project %q, not %q; nothing was saved", s.Project, opts.project)
	}
	conn.ServerURL, conn.Project = c.BaseURL(), s.Project
	if err := client.SaveConnection(path, conn); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Logged in to %s (server %s) as %s, role %s, in project %s.\nSaved the connection to %s\n",
		conn.ServerURL, s.ServerVersion, s.Principal, s.Role, s.Project, path)
	warnEnvOverrides(stderr, "overrides the saved connection")
	return nil
}

// warnEnvOverrides notes on w each connection variable set in the
// environment, which wins over the config file.
func warnEnvOverrides(w io.Writer, effect string) {
	for _, env := range []string{client.EnvServerURL, client.EnvAuthToken, client.EnvProject} {
		if os.Getenv(env) != "" {
			fmt.Fprintf(w, "note: %s is set in the environment and %s\n", env, effect)
		}
	}
}

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove the saved connection",
		Long: `logout deletes the config file written by kitaru login. Logging out twice is
not an error. It does not touch KITARU_SERVER_URL, KITARU_AUTH_TOKEN or
KITARU_PROJECT, and does not revoke the API key on the server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := runLogout(cmd.OutOrStdout(), cmd.ErrOrStderr()); err != nil {
				return report(cmd.ErrOrStderr(), "logout", "", err)
			}
			return nil
		},
	}
}

func runLogout(stdout, stderr io.Writer) error {
	path, err := client.ConfigPath(os.Getenv)
	if err != nil {
		return err
	}
	removed, err := client.RemoveConnection(path)
	if err != nil {
		return err
	}
	if removed {
		fmt.Fprintf(stdout, "Logged out: removed %s\n", path)
	} else {
		fmt.Fprintf(stdout, "Not logged in: %s does not exist\n", path)
	}
	warnEnvOverrides(stderr, "still connects commands")
	return nil
}
