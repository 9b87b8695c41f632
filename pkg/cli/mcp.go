package cli

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/mcpserver"
)

func newMCPCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "mcp",
		Short: "Serve the deployment tools to an MCP client (assistant) over stdio",
		Long: `mcp runs a Model Context Protocol server on stdin and stdout for an
MCP-capable assistant. Its tools deploy flows (kitaru_deployments_deploy, with
kitaru deploy's bundling), list, resolve, tag, untag, delete and invoke them
(kitaru_deployments_*), and follow or cancel executions (kitaru_executions_*).

The connection is read on every tool call, so the server starts without one and
a call made without one fails saying what to set. Relative deploy targets are
relative to the directory the server runs in.
` + serverHelp,
		Example: `  # an MCP client's server entry
  {"command": "kitaru", "args": ["mcp"], "env": {"KITARU_SERVER_URL": "http://127.0.0.1:8787", "KITARU_AUTH_TOKEN": "kat_…", "KITARU_PROJECT": "default"}}`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := NewMCPServer().Run(cmd.Context(), &mcp.StdioTransport{})
			if errors.Is(err, context.Canceled) {
				return nil // Ctrl-C or SIGTERM
			}
			return err
		},
	}
}

// NewMCPServer returns the server kitaru mcp serves: the mcpserver tools on
// the active connection.
func NewMCPServer() *mcp.Server {
	return mcpserver.New(mcpserver.Config{
		Client: func() (*client.Client, error) {
			c, _, err := serverClient()
			return c, err
		},
	})
}
