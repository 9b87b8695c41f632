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

// ToolFlowsPrune deletes the versions of a flow nothing needs any more.
const ToolFlowsPrune = "kitaru_flows_prune"

type flowPruneInput struct {
	Flow      string `json:"flow" jsonschema:"the flow's public name, e.g. research_agent"`
	Keep      int    `json:"keep" jsonschema:"how many of the newest versions to keep whatever else holds, at least 1"`
	OlderThan string `json:"older_than,omitempty" jsonschema:"only delete versions created longer ago than this age: whole days (30d) or a duration (12h, 90m)"`
	DryRun    bool   `json:"dry_run,omitempty" jsonschema:"answer the plan and delete nothing"`
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
	addTool(s, t, &mcp.Tool{
		Name:  ToolFlowsPrune,
		Title: "Prune a flow's versions",
		Description: `Delete the versions of a flow that no tag routes to (exclusive, shared or in a split), except the newest keep versions, versions created less than older_than ago and versions with a running execution; then delete the source bundles only those versions used (a bundle another version of the project uses stays). ` +
			`Version numbers are never reused. Returns deleted (versions), kept (each version with its reason: routed, newest, too_young, running) and bundles (deleted, or kept as shared/in_use). ` +
			`Run it with dry_run=true first, show the user the plan, and prune for real only if they confirm.`,
		// Not idempotent in what it answers: a second prune finds less to delete.
		Annotations: &mcp.ToolAnnotations{IdempotentHint: false, DestructiveHint: jsonschema.Ptr(true)},
	}, t.flowPrune)
}

func (t tools) flowPrune(ctx context.Context, c *client.Client, in flowPruneInput) (registry.Pruning, error) {
	opts := client.PruneOptions{Keep: in.Keep, DryRun: in.DryRun}
	if in.OlderThan != "" {
		age, err := registry.ParseAge("older_than", in.OlderThan)
		if err != nil {
			return registry.Pruning{}, err
		}
		opts.OlderThan = age
	}
	return c.Prune(ctx, in.Flow, opts)
}

func (t tools) flowDelete(ctx context.Context, c *client.Client, in flowDeleteInput) (registry.FlowDeletion, error) {
	return c.DeleteFlow(ctx, in.Flow, client.DeleteFlowOptions{Force: in.Force})
}
