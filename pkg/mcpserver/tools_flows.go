package mcpserver

import (
	"context"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// ToolFlowsDelete deletes a whole flow.
const ToolFlowsDelete = "kitaru_flows_delete"

type flowDeleteInput struct {
	Flow  string `json:"flow" jsonschema:"the flow's public name, e.g. research_agent"`
	Force bool   `json:"force,omitempty" jsonschema:"also remove exclusive tags other than default (such as stable) that route to the flow's versions; without it such tags make the delete a conflict naming them"`
}

// registerFlows adds the tools that act on a whole flow.
func (t tools) registerFlows(s *mcp.Server) {
	addTool(s, t, &mcp.Tool{
		Name:  ToolFlowsDelete,
		Title: "Delete a flow",
		Description: `Delete a whole flow: every version, its tags and their history. Its executions stay readable with kitaru_executions_get. ` +
			`While an exclusive tag other than default (such as stable or prod) routes to one of its versions the delete is refused (conflict naming the tags): tell the user which routes would go, and pass force=true only if they confirm. ` +
			`Version numbers are never reused: a flow deployed again under the same name continues at next_version. ` +
			`Returns what was removed: versions, tags (tag → versions), forced, next_version. Ask the user before deleting.`,
		// Not idempotent: a second delete finds no flow (not_found).
		Annotations: &mcp.ToolAnnotations{IdempotentHint: false, DestructiveHint: jsonschema.Ptr(true)},
	}, t.flowDelete)
}

func (t tools) flowDelete(ctx context.Context, c *client.Client, in flowDeleteInput) (registry.FlowDeletion, error) {
	return c.DeleteFlow(ctx, in.Flow, client.DeleteFlowOptions{Force: in.Force})
}
