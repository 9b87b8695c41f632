package mcpserver

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// ToolBuild saves a version without routing a tag to it (kitaru build).
const ToolBuild = "kitaru_deployments_build"

type buildInput struct {
	Target      string         `json:"target" jsonschema:"the flow to build as path/to/file.py:function_name, relative to the MCP server's working directory or absolute; the file must be inside a Kitaru project (a directory where kitaru init was run)"`
	Inputs      map[string]any `json:"inputs,omitempty" jsonschema:"representative inputs of the flow, keyword argument name to JSON value, e.g. {\"topic\": \"durable agents\"}; they become the version's defaults, which invocations may override or extend"`
	Stack       string         `json:"stack,omitempty" jsonschema:"the stack to build for; empty uses the server's default stack"`
	Description string         `json:"description,omitempty" jsonschema:"what this version changes, shown in listings"`
	Secrets     []string       `json:"secrets,omitempty" jsonschema:"names of flow secrets (set with kitaru secrets set NAME) the version's runs get as environment variables, e.g. [\"OPENAI_API_KEY\"]; each must exist in the project"`
}

// registerBuild adds kitaru_deployments_build.
func (t tools) registerBuild(s *mcp.Server) {
	addTool(s, t, &mcp.Tool{
		Name:  ToolBuild,
		Title: "Build a flow without routing it",
		Description: `Save a flow from source as its next immutable version, like kitaru_deployments_deploy, but attach no routing tag: no tag moves, so nothing invoked by tag runs it yet. ` +
			`Use it when the user wants to stage a version to try or review before it takes traffic. The flow's first version still gets the tag default (it exists once any version does). ` +
			`Run the built version with kitaru_deployments_invoke and its version; promote it with kitaru_deployments_tag. ` +
			`Returns the deployment: flow, version, tags (name → exclusive; empty unless it was the flow's first), entrypoint, inputs, stack.`,
		Annotations: creates,
	}, t.build)
}

func (t tools) build(ctx context.Context, c *client.Client, in buildInput) (registry.Deployment, error) {
	opts := client.DeployDirOptions{Stack: in.Stack, Description: in.Description, Secrets: in.Secrets}
	return t.fromSource(ctx, c, in.Target, in.Inputs, opts, (*client.Deployments).BuildDir)
}
