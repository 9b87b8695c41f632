package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// serverHelp ends the help of every command that calls the Kitaru server.
const serverHelp = `
Server: the connection saved by kitaru login, each value overridden by
KITARU_SERVER_URL, KITARU_AUTH_TOKEN (an API key or a token, sent as a bearer
token) and KITARU_PROJECT when they are set. Without a server URL, a
credential and a project the command fails saying what to set, before any
request; kitaru info shows the connection in use.`

// connection is the active server connection and where its values came from.
type connection struct {
	client.Connection
	sources client.Sources
	path    string // the config file, which may not exist
}

// loadConnection reads the config file and the environment.
func loadConnection() (connection, error) {
	path, err := client.ConfigPath(os.Getenv)
	if err != nil {
		return connection{}, err
	}
	conn, src, err := client.LoadConnection(os.Getenv)
	if err != nil {
		return connection{}, err
	}
	return connection{Connection: conn, sources: src, path: path}, nil
}

// origin names where a value came from for messages: the variable or the file.
func (c connection) origin(src client.ValueSource, env string) string {
	switch src {
	case client.SourceEnv:
		return env
	case client.SourceFile:
		return c.path
	}
	return string(src)
}

// serverClient builds the client of the active connection. Errors:
// precondition_failed (a missing value, see client.Connection.Require, or
// a missing project),
// invalid_argument (a malformed server URL).
func serverClient(opts ...client.Option) (*client.Client, connection, error) {
	conn, err := loadConnection()
	if err != nil {
		return nil, connection{}, err
	}
	c, err := client.FromConnection(conn.Connection, opts...)
	if registry.CodeOf(err) == registry.CodeInvalidArgument {
		return nil, conn, registry.Errorf(registry.CodeInvalidArgument, "%s: %s", conn.origin(conn.sources.ServerURL, client.EnvServerURL), messageOf(err))
	}
	if err != nil {
		return nil, conn, err
	}
	if err := requireProject(conn.Connection); err != nil {
		return nil, conn, err
	}
	// Each command is a process: the revisions of the routes earlier ones
	// changed come from the file (docs/route-cache.md).
	client.RevisionFile{Path: client.RevisionFilePath(conn.path), Server: conn.ServerURL, Project: conn.Project}.Attach(c)
	return c, conn, nil
}

// requireProject names a missing project. API Gateway refuses a request
// without X-Kitaru-Project before any handler runs, so the CLI says what to
// set instead of passing on the gateway's 401. Errors: precondition_failed.
func requireProject(conn client.Connection) error {
	if conn.Project != "" {
		return nil
	}
	return registry.Errorf(registry.CodePreconditionFailed,
		"no Kitaru project: set %s to the project to act in, or run %s", client.EnvProject, `"kitaru login URL --api-key KEY --project P"`)
}

func newStatusCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Check the connection to the Kitaru server",
		Long: `status asks the Kitaru server who the connection's credential is: it prints
the server URL and version, the project, the principal and its role.
` + serverHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			item, err := runStatus(cmd.Context())
			if err != nil {
				return report(cmd.ErrOrStderr(), "status", output, err)
			}
			if output.json() {
				return writeJSON(cmd.OutOrStdout(), envelope{Command: "status", Item: item})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Server:     %s\n", item.ServerURL)
			fmt.Fprintf(w, "Version:    %s\n", item.ServerVersion)
			fmt.Fprintf(w, "Project:    %s\n", item.Project)
			fmt.Fprintf(w, "Principal:  %s\n", item.Principal)
			fmt.Fprintf(w, "Role:       %s\n", item.Role)
			fmt.Fprintf(w, "Credential: %s\n", item.Credential)
			return nil
		},
	}
	cmd.Flags().VarP(&output, "output", "o", "output format: text or json")
	return cmd
}

// statusItem is the -o json item of kitaru status.
type statusItem struct {
	ServerURL string `json:"server_url"`
	client.Status
}

func runStatus(ctx context.Context) (statusItem, error) {
	c, _, err := serverClient()
	if err != nil {
		return statusItem{}, err
	}
	s, err := c.Status(ctx)
	if err != nil {
		return statusItem{}, err
	}
	return statusItem{ServerURL: c.BaseURL(), Status: s}, nil
}

func newInfoCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Show the connection values Kitaru sees and where each comes from",
		Long: `info shows the server URL, the credential (masked) and the project of the
active connection and whether each comes from the environment (KITARU_SERVER_URL,
KITARU_AUTH_TOKEN, KITARU_PROJECT), the config file written by kitaru login, or
is not set. It does not call the server; kitaru status does.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := loadConnection()
			if err != nil {
				return report(cmd.ErrOrStderr(), "info", output, err)
			}
			item := newInfoItem(conn)
			if output.json() {
				return writeJSON(cmd.OutOrStdout(), envelope{Command: "info", Item: item})
			}
			printInfo(cmd.OutOrStdout(), item)
			return nil
		},
	}
	cmd.Flags().VarP(&output, "output", "o", "output format: text or json")
	return cmd
}

// infoItem is what kitaru info shows. It never holds a whole credential.
type infoItem struct {
	ConfigFile string         `json:"config_file"`
	ServerURL  connectionItem `json:"server_url"`
	AuthToken  connectionItem `json:"auth_token"`
	Project    connectionItem `json:"project"`
	// Problem is what Require says is missing, if anything.
	Problem string `json:"problem,omitempty"`
}

// connectionItem is one connection value and where it came from.
type connectionItem struct {
	Value  string             `json:"value,omitempty"`
	Source client.ValueSource `json:"source"`
	// Variable is the environment variable that sets the value.
	Variable string `json:"variable"`
	// Kind is api_key or token, for the credential.
	Kind registry.Credential `json:"kind,omitempty"`
}

func newInfoItem(conn connection) infoItem {
	item := infoItem{
		ConfigFile: conn.path,
		ServerURL:  connectionItem{Value: conn.ServerURL, Source: conn.sources.ServerURL, Variable: client.EnvServerURL},
		AuthToken:  connectionItem{Source: conn.sources.AuthToken, Variable: client.EnvAuthToken},
		Project:    connectionItem{Value: conn.Project, Source: conn.sources.Project, Variable: client.EnvProject},
	}
	if conn.AuthToken != "" {
		item.AuthToken.Value = auth.Mask(conn.AuthToken)
		item.AuthToken.Kind = credentialKind(conn.Connection)
	}
	err := conn.Require()
	if err == nil {
		err = requireProject(conn.Connection)
	}
	if err != nil {
		item.Problem = messageOf(err)
	}
	return item
}

// messageOf is an error's message without the code a registry.Error
// prefixes.
func messageOf(err error) string {
	var re *registry.Error
	if errors.As(err, &re) {
		return re.Message
	}
	return err.Error()
}

func credentialKind(c client.Connection) registry.Credential {
	if c.HasAPIKey() {
		return registry.CredentialAPIKey
	}
	return registry.CredentialToken
}

func printInfo(w io.Writer, item infoItem) {
	line := func(label string, v connectionItem) {
		value := v.Value
		if v.Kind != "" {
			value += " (" + string(v.Kind) + ")"
		}
		switch v.Source {
		case client.SourceEnv:
			value += "  from env " + v.Variable
		case client.SourceFile:
			value += "  from file"
		default:
			value = "not set (" + v.Variable + ")"
		}
		fmt.Fprintf(w, "%-12s %s\n", label+":", value)
	}
	line("Server URL", item.ServerURL)
	line("Auth token", item.AuthToken)
	line("Project", item.Project)
	fmt.Fprintf(w, "%-12s %s\n", "Config file:", item.ConfigFile)
	if item.Problem != "" {
		fmt.Fprintf(w, "Not ready: %s\n", item.Problem)
	}
}
