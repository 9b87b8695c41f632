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

// ToolFlowsStatus reports how each version on a flow's route is doing.
const ToolFlowsStatus = "kitaru_flows_status"

type flowStatusInput struct {
	Flow    string `json:"flow" jsonschema:"the flow's public name, e.g. research_agent"`
	Tag     string `json:"tag,omitempty" jsonschema:"only executions invoked through this tag, e.g. stable, on the versions it routes to"`
	Version int    `json:"version,omitempty" jsonschema:"only this version"`
	Since   string `json:"since,omitempty" jsonschema:"the window's start: a duration before now such as 15m, 1h or 168h (default 24h, at most 720h), or an RFC 3339 time"`
}

func (in flowStatusInput) check() error {
	_, _, err := parseSince(in.Since)
	return err
}

// ToolFlowsDiff compares two deployments of a flow.
const ToolFlowsDiff = "kitaru_flows_diff"

type flowDiffInput struct {
	Flow string `json:"flow" jsonschema:"the flow's public name, e.g. research_agent"`
	From string `json:"from" jsonschema:"the deployment to compare from: a version (\"2\"), a tag (\"stable\", resolved now) or tag:NAME for a tag named like a number"`
	To   string `json:"to" jsonschema:"the deployment to compare to, written as from is"`
	Path string `json:"path,omitempty" jsonschema:"narrow the source diff to this file or directory of the project, e.g. flows/research.py; a single file then gets the whole answer's diff text"`
}

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
		Name:  ToolFlowsStatus,
		Title: "Show how each version on a flow's route is doing",
		Description: `Per version on the flow's route: executions started, completed, failed, cancelled and running in the window (since, default the last 24 hours, at most 30 days), ` +
			`p50_seconds and p95_seconds of those that ended, and last_failure (exec_id, error type, when). Routed versions come first with their tags (even with no executions), then versions that ran but are off the route now (tags empty). ` +
			`Use it to judge a canary or a rollout ("is version 4 on live failing more than version 3 did?"); pass tag to count only the executions invoked through that tag. ` +
			`When sampled is true the server read only the newest executions (from oldest_seen): say so. Read the failure with kitaru_executions_get and its log with kitaru_executions_logs.`,
		Annotations: readOnly,
	}, t.flowStatus)

	addTool(s, t, &mcp.Tool{
		Name:  ToolFlowsDiff,
		Title: "Compare two deployments",
		Description: `Show what changed between two deployments of a flow, e.g. before promoting a canary: from and to are versions or tags (resolved now; from.version and to.version say to what). ` +
			`Returns identical (true for the same version twice), fields (entrypoint, stack, description, source digest, git commit and dirty flag, each from → to), ` +
			`input_schema.parameters (added, removed, or modified with aspects type/required/default/schema), inputs (deploy-time inputs added, removed or modified by key), secrets (names added and removed), ` +
			`and source: a summary of files added/removed/modified/unchanged and files[] with a unified diff of each changed text file (binary files by digest). ` +
			`The answer is bounded: when source.truncated is true, source.truncation says what was cut; call again with path set to one file to see its diff whole (up to 256 KiB). ` +
			`Unknown versions or tags are not_found.`,
		Annotations: idempotent,
	}, t.flowDiff)

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

func (t tools) flowStatus(ctx context.Context, c *client.Client, in flowStatusInput) (client.FlowStats, error) {
	at, ago, err := parseSince(in.Since)
	if err != nil {
		return client.FlowStats{}, err
	}
	return c.FlowStats(ctx, in.Flow, client.FlowStatsOptions{Tag: in.Tag, Version: in.Version, Since: at, SinceAgo: ago})
}

func (t tools) flowDiff(ctx context.Context, c *client.Client, in flowDiffInput) (client.DeploymentDiff, error) {
	return c.Deployments().Diff(ctx, in.Flow, in.From, in.To, client.DiffOptions{Path: in.Path})
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
