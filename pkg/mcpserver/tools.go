package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// MaxWaitSeconds bounds kitaru_deployments_invoke's wait_seconds.
const MaxWaitSeconds = 300

// Tool names, as the model calls them.
const (
	ToolDeploy          = "kitaru_deployments_deploy"
	ToolInvoke          = "kitaru_deployments_invoke"
	ToolList            = "kitaru_deployments_list"
	ToolGet             = "kitaru_deployments_get"
	ToolTag             = "kitaru_deployments_tag"
	ToolUntag           = "kitaru_deployments_untag"
	ToolDelete          = "kitaru_deployments_delete"
	ToolHistory         = "kitaru_deployments_history"
	ToolExecutionGet    = "kitaru_executions_get"
	ToolExecutionCancel = "kitaru_executions_cancel"
)

// selectorRule is said by every tool that takes a selector.
const selectorRule = ` Pick the version with either "tag" or "version", never both (both is refused with invalid_argument); with neither, the tag "default" is used. A shared tag that sits on several versions cannot be resolved (conflict): pass a version instead.`

type deployInput struct {
	Target      string         `json:"target" jsonschema:"the flow to deploy as path/to/file.py:function_name, relative to the MCP server's working directory or absolute; the file must be inside a Kitaru project (a directory where kitaru init was run)"`
	Inputs      map[string]any `json:"inputs,omitempty" jsonschema:"representative inputs of the flow, keyword argument name to JSON value, e.g. {\"topic\": \"durable agents\"}; they become the version's defaults, which invocations may override or extend"`
	Tag         string         `json:"tag,omitempty" jsonschema:"the one routing tag to attach, e.g. canary; empty attaches default (and the flow's first version always gets default)"`
	Exclusive   bool           `json:"exclusive,omitempty" jsonschema:"move the tag here from any other version instead of sharing it; default is always exclusive"`
	Stack       string         `json:"stack,omitempty" jsonschema:"the stack to deploy to; empty uses the server's default stack"`
	Description string         `json:"description,omitempty" jsonschema:"what this version changes, shown in listings"`
	Secrets     []string       `json:"secrets,omitempty" jsonschema:"names of flow secrets (set with kitaru secrets set NAME) the version's runs get as environment variables, e.g. [\"OPENAI_API_KEY\"]; each must exist in the project"`
}

type invokeInput struct {
	Flow           string         `json:"flow" jsonschema:"the flow's public name, e.g. research_agent"`
	Tag            string         `json:"tag,omitempty" jsonschema:"the route to invoke, e.g. stable; not together with version"`
	Version        int            `json:"version,omitempty" jsonschema:"the exact version to invoke, e.g. 2; not together with tag"`
	Inputs         map[string]any `json:"inputs,omitempty" jsonschema:"inputs for this run, overriding the version's deploy-time inputs key by key, e.g. {\"topic\": \"deployment routing\"}"`
	IdempotencyKey string         `json:"idempotency_key,omitempty" jsonschema:"a key that makes retries safe: the same key on the same flow returns the same execution for 24 hours instead of starting another"`
	StickyKey      string         `json:"sticky_key,omitempty" jsonschema:"for a split tag: a key (a user id, say) that always runs the same version while the split is unchanged; without it the version is picked at random by weight"`
	WaitSeconds    int            `json:"wait_seconds,omitempty" jsonschema:"wait up to this many seconds (at most 300) for the execution to end and return it finished; 0 returns at once with the execution running"`
}

type listInput struct {
	Flow      string `json:"flow,omitempty" jsonschema:"a flow's public name: list its versions with their tags; empty lists the project's flows"`
	NextToken string `json:"next_token,omitempty" jsonschema:"the next_token of the previous answer, to get the next page"`
}

type getInput struct {
	Flow      string `json:"flow" jsonschema:"the flow's public name, e.g. research_agent"`
	Tag       string `json:"tag,omitempty" jsonschema:"the route to resolve, e.g. stable; not together with version"`
	Version   int    `json:"version,omitempty" jsonschema:"the exact version to read; not together with tag"`
	StickyKey string `json:"sticky_key,omitempty" jsonschema:"for a split tag: the key whose version to show (the same key always gets the same version while the split is unchanged)"`
}

type tagInput struct {
	Flow      string         `json:"flow" jsonschema:"the flow's public name"`
	Tag       string         `json:"tag" jsonschema:"the tag to point at the version, e.g. stable"`
	Version   int            `json:"version,omitempty" jsonschema:"the version the tag should point at; not together with split"`
	Exclusive bool           `json:"exclusive,omitempty" jsonschema:"move the tag here from every other version (a route such as stable or prod); false adds it as a shared label alongside its other versions; default is always exclusive"`
	Split     registry.Split `json:"split,omitempty" jsonschema:"instead of version: split the exclusive tag over 2 to 8 versions by weight, version to weight summing to 100, e.g. {\"3\": 90, \"4\": 10}; a later move to one version collapses it"`
}

type untagInput struct {
	Flow    string `json:"flow" jsonschema:"the flow's public name"`
	Tag     string `json:"tag" jsonschema:"the tag to remove; default cannot be removed, only moved"`
	Version int    `json:"version" jsonschema:"the version to remove the tag from"`
}

type deleteInput struct {
	Flow    string `json:"flow" jsonschema:"the flow's public name"`
	Version int    `json:"version" jsonschema:"the version to delete"`
}

type historyInput struct {
	Flow      string `json:"flow" jsonschema:"the flow's public name"`
	Tag       string `json:"tag" jsonschema:"the tag whose route changes to list, e.g. stable"`
	NextToken string `json:"next_token,omitempty" jsonschema:"the next_token of the previous answer, to get the next page"`
}

type execInput struct {
	ExecID string `json:"exec_id" jsonschema:"the execution's id (ex_…), as kitaru_deployments_invoke returned it"`
}

// untagResult answers an untag (the API answers 204).
type untagResult struct {
	Flow    string `json:"flow"`
	Tag     string `json:"tag"`
	Version int    `json:"version"`
	Removed bool   `json:"removed"`
}

// deleteResult answers a delete (the API answers 204).
type deleteResult struct {
	Flow    string `json:"flow"`
	Version int    `json:"version"`
	Deleted bool   `json:"deleted"`
}

// tools holds the handlers; each reads the connection when it is called.
// inputs are the tools' input schemas by name, for checkArguments.
type tools struct {
	cfg    Config
	inputs map[string]argumentSchema
}

// The tools' annotations, by what a call does.
var (
	readOnly    = &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	idempotent  = &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: jsonschema.Ptr(false)}
	destructive = &mcp.ToolAnnotations{IdempotentHint: true, DestructiveHint: jsonschema.Ptr(true)}
	creates     = &mcp.ToolAnnotations{DestructiveHint: jsonschema.Ptr(false)}
)

// checker is a tool input with a rule its schema cannot say (a tag or a
// version, not both; a time or a duration): addTool checks it before it
// connects, so such a call is invalid_argument with or without a
// connection.
type checker interface{ check() error }

// addTool registers a tool, the one shape all of them share, so that each
// tool is its description and run. The input schema is inferred from In
// and the output schema from Out unless tool sets them; the input schema
// is kept for checkArguments. A call checks In (checker), connects, runs,
// and answers any failure as the API's error envelope (toolError).
func addTool[In, Out any](s *mcp.Server, t tools, tool *mcp.Tool, run func(context.Context, *client.Client, In) (Out, error)) {
	if tool.InputSchema == nil {
		tool.InputSchema = inputSchema[In]()
	}
	if tool.OutputSchema == nil {
		tool.OutputSchema = schemaFor[Out]()
	}
	schema, ok := tool.InputSchema.(*jsonschema.Schema)
	if !ok {
		panic(fmt.Sprintf("tool %s: the input schema must be a *jsonschema.Schema", tool.Name))
	}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		panic(fmt.Sprintf("tool %s: input schema: %v", tool.Name, err))
	}
	t.inputs[tool.Name] = argumentSchema{schema, resolved}
	mcp.AddTool(s, tool, func(ctx context.Context, _ *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		var none Out
		if c, ok := any(in).(checker); ok {
			if err := c.check(); err != nil {
				return nil, none, toolError(err)
			}
		}
		c, err := t.cfg.Client()
		if err != nil {
			return nil, none, toolError(err)
		}
		out, err := run(ctx, c, in)
		if err != nil {
			return nil, none, toolError(err)
		}
		return nil, out, nil
	})
}

func (t tools) register(s *mcp.Server) {
	addTool(s, t, &mcp.Tool{
		Name:  ToolDeploy,
		Title: "Deploy a flow",
		Description: `Deploy a flow from source as its next immutable version (1, 2, 3, … per flow) and attach one routing tag. ` +
			`Use it when the user wants to publish a flow or a new revision of it. The project holding the file (the nearest directory with .kitaru/, made by kitaru init) is bundled and saved with the version; a file outside such a project is refused: tell the user to run kitaru init in the repository root. ` +
			`The flow's first version gets the tag default; later deploys attach "tag" (default when empty), so a plain deploy moves default. To route another tag to a version afterwards use kitaru_deployments_tag instead of deploying again. ` +
			`Returns the deployment: flow, version, tags (name → exclusive), entrypoint, inputs, stack.`,
		Annotations: creates,
	}, t.deploy)

	invokeSchema := inputSchema[invokeInput]()
	invokeSchema.Properties["wait_seconds"].Minimum = jsonschema.Ptr(0.0)
	invokeSchema.Properties["wait_seconds"].Maximum = jsonschema.Ptr(float64(MaxWaitSeconds))
	addTool(s, t, &mcp.Tool{
		Name:  ToolInvoke,
		Title: "Invoke a deployed flow",
		Description: `Start a new execution of a deployed flow and return it (exec_id, status, the resolved version). ` +
			`Use it to run a flow someone deployed; you only need its name and a route, not its source.` + selectorRule +
			` "inputs" override the version's deploy-time inputs key by key. When the version has an input schema (see kitaru_deployments_get), an unknown key, a wrong type or a missing required input is refused (unprocessable, naming the keys) and nothing starts; without one any inputs are passed to the flow. ` +
			`With wait_seconds > 0 the call waits up to that long (at most 300) and returns the execution completed (with "result"), failed (with "error") or cancelled, or still running when the time is up: then follow it with kitaru_executions_get. ` +
			`Pass idempotency_key when you might retry the call, so a retry returns the same execution instead of starting a second one.`,
		Annotations: creates,
		InputSchema: invokeSchema,
	}, t.invoke)

	listOut := &jsonschema.Schema{
		Type: "object",
		Properties: map[string]*jsonschema.Schema{
			"items": {Type: "array", Items: &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
				schemaFor[registry.FlowSummary](), schemaFor[registry.Deployment](),
			}}},
			"next_token": {Type: "string"},
		},
		Required: []string{"items"},
	}
	addTool(s, t, &mcp.Tool{
		Name:  ToolList,
		Title: "List flows or a flow's versions",
		Description: `Without "flow": list the project's deployed flows, each with its deployment count, latest version, the version default routes to and every tag (tag → versions). ` +
			`With "flow": list that flow's versions, newest first, each with its tags (name → exclusive), inputs and stack. ` +
			`Use it to discover what can be invoked and how it is routed before invoking. A non-empty next_token means there is another page: call again with it.`,
		Annotations:  readOnly,
		OutputSchema: listOut,
	}, t.list)

	addTool(s, t, &mcp.Tool{
		Name:  ToolGet,
		Title: "Resolve a route",
		Description: `Show the deployment a route points at right now: which version "tag" (or the default tag) resolves to, or the exact "version". ` +
			`Use it to check a route before invoking it or before moving a tag.` + selectorRule +
			` Returns {selector, deployment} as the API's resolve does.`,
		Annotations: readOnly,
	}, t.get)

	addTool(s, t, &mcp.Tool{
		Name:  ToolTag,
		Title: "Point a tag at a version",
		Description: `Point a tag at a deployed version: promote a canary to stable, or add a shared label. ` +
			`With exclusive=true the tag moves here from wherever it was (routes such as stable or prod); with exclusive=false it is a shared label that may sit on several versions. A tag name is either exclusive or shared, never both (conflict). default is always exclusive. ` +
			`With split instead of version, an exclusive tag routes by weight to 2 to 8 versions (a canary at 10%: {"3": 90, "4": 10}); invoking it picks a version by weight, stable for a sticky_key. ` +
			`Every change is recorded in the tag's history. Returns the tag: its versions and revision.`,
		Annotations: idempotent,
	}, t.tag)

	addTool(s, t, &mcp.Tool{
		Name:  ToolUntag,
		Title: "Remove a tag from a version",
		Description: `Remove a tag from one version. default cannot be removed (conflict): move it to another version with kitaru_deployments_tag instead. ` +
			`Consumers invoking the removed tag will get not_found.`,
		Annotations: destructive,
	}, t.untag)

	addTool(s, t, &mcp.Tool{
		Name:  ToolDelete,
		Title: "Delete a version",
		Description: `Delete one version of a flow; its shared tags leave with it and its number is never reused. ` +
			`A version that still holds an exclusive tag (such as default or stable) cannot be deleted (conflict naming the tags): move those tags to another version first with kitaru_deployments_tag. Ask the user before deleting.`,
		Annotations: destructive,
	}, t.delete)

	addTool(s, t, &mcp.Tool{
		Name:  ToolHistory,
		Title: "Show a tag's route changes",
		Description: `List a tag's route changes, newest first: who moved, added or removed it, when, and from which version to which. ` +
			`Use it to explain how a route got where it is. A non-empty next_token means there is another page.`,
		Annotations: readOnly,
	}, t.history)

	addTool(s, t, &mcp.Tool{
		Name:  ToolExecutionGet,
		Title: "Get an execution",
		Description: `Read an execution by its exec_id: status running, completed (with "result", the flow's JSON return value), failed (with "error": type, message, traceback) or cancelled. ` +
			`Use it to follow an invocation that was still running.`,
		Annotations: readOnly,
	}, t.executionGet)

	addTool(s, t, &mcp.Tool{
		Name:  ToolExecutionCancel,
		Title: "Cancel an execution",
		Description: `Cancel a running execution and stop its run; cancelling a cancelled one again is harmless. ` +
			`An execution that already completed or failed cannot be cancelled (conflict). Returns the execution.`,
		Annotations: destructive,
	}, t.executionCancel)

	t.registerFlows(s)
	t.registerExecutions(s)
	t.registerLogs(s) // tools_logs.go
	t.registerBuild(s)
}

// checkSelector refuses a tag and a version together.
func checkSelector(tag string, version int) error {
	if tag != "" && version != 0 {
		return registry.Errorf(registry.CodeInvalidArgument, "pass either tag (%q) or version (%d), not both", tag, version)
	}
	return nil
}

// checkWait refuses a wait_seconds out of its range.
func checkWait(seconds int) error {
	if seconds < 0 || seconds > MaxWaitSeconds {
		return registry.Errorf(registry.CodeInvalidArgument, "wait_seconds %d is out of range: use 0 to %d", seconds, MaxWaitSeconds)
	}
	return nil
}

func (in invokeInput) check() error {
	if err := checkSelector(in.Tag, in.Version); err != nil {
		return err
	}
	return checkWait(in.WaitSeconds)
}

func (in getInput) check() error { return checkSelector(in.Tag, in.Version) }

func (t tools) deploy(ctx context.Context, c *client.Client, in deployInput) (registry.Deployment, error) {
	opts := client.DeployDirOptions{Tag: in.Tag, Exclusive: in.Exclusive, Stack: in.Stack, Description: in.Description, Secrets: in.Secrets}
	return t.fromSource(ctx, c, in.Target, in.Inputs, opts, (*client.Deployments).DeployDir)
}

// fromSource saves a version of target from source with save (DeployDir or
// BuildDir), its inputs encoded into opts and its warnings sent to the
// server's log.
func (t tools) fromSource(ctx context.Context, c *client.Client, target string, inputs map[string]any, opts client.DeployDirOptions,
	save func(*client.Deployments, context.Context, string, string, client.DeployDirOptions) (client.Deployment, error),
) (registry.Deployment, error) {
	opts.Warn = func(msg string) { fmt.Fprintln(t.cfg.Warnings, msg) }
	if inputs != nil {
		raw, err := json.Marshal(inputs)
		if err != nil {
			return registry.Deployment{}, registry.Errorf(registry.CodeInvalidArgument, "inputs: %v", err)
		}
		opts.Inputs = raw
	}
	// A relative target is relative to the server's working directory.
	d, err := save(c.Deployments(), ctx, "", target, opts)
	return d.Deployment, err
}

func (t tools) invoke(ctx context.Context, c *client.Client, in invokeInput) (registry.Execution, error) {
	sel := registry.Selector{Tag: in.Tag, Version: in.Version, StickyKey: in.StickyKey}
	h, err := c.Deployments().Invoke(ctx, in.Flow, client.InvokeOptions{Selector: sel, Inputs: in.Inputs, IdempotencyKey: in.IdempotencyKey})
	if err != nil {
		return registry.Execution{}, err
	}
	if in.WaitSeconds == 0 {
		return h.Execution, nil
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(in.WaitSeconds)*time.Second)
	defer cancel()
	e, err := h.Wait(wctx)
	var failed *client.ExecutionError
	switch {
	case err == nil, errors.As(err, &failed), errors.Is(err, client.ErrCancelled):
		return e, nil // the execution ended; its status and result or error say how
	case wctx.Err() != nil:
		return e, nil // still running: the model follows it with kitaru_executions_get
	}
	return registry.Execution{}, err
}

// listResult is the API's page of flows or of one flow's deployments.
type listResult = client.Page[any]

func (t tools) list(ctx context.Context, c *client.Client, in listInput) (listResult, error) {
	opts := client.ListOptions{NextToken: in.NextToken}
	out := listResult{Items: []any{}}
	if in.Flow == "" {
		p, err := c.Flows(ctx, opts)
		if err != nil {
			return listResult{}, err
		}
		for _, f := range p.Items {
			out.Items = append(out.Items, f)
		}
		out.NextToken = p.NextToken
		return out, nil
	}
	p, err := c.Deployments().List(ctx, in.Flow, opts)
	if err != nil {
		return listResult{}, err
	}
	for _, d := range p.Items {
		out.Items = append(out.Items, d.Deployment)
	}
	out.NextToken = p.NextToken
	return out, nil
}

func (t tools) get(ctx context.Context, c *client.Client, in getInput) (registry.Resolution, error) {
	sel := registry.Selector{Tag: in.Tag, Version: in.Version, StickyKey: in.StickyKey}
	d, err := c.Deployments().Resolve(ctx, in.Flow, sel)
	if err != nil {
		return registry.Resolution{}, err
	}
	if sel.Tag == "" && sel.Version == 0 {
		sel.Tag = registry.DefaultTag
	}
	return registry.Resolution{Selector: sel, Deployment: d.Deployment}, nil
}

func (t tools) tag(ctx context.Context, c *client.Client, in tagInput) (registry.Tag, error) {
	switch {
	case in.Split != nil && in.Version != 0:
		return registry.Tag{}, registry.Errorf(registry.CodeInvalidArgument, "pass either version or split, not both").WithReason(registry.ReasonInvalidSplit)
	case in.Split != nil:
		return c.Deployments().Split(ctx, in.Flow, in.Tag, in.Split, client.TagOptions{})
	}
	return c.Deployments().Tag(ctx, in.Flow, in.Tag, in.Version, client.TagOptions{Exclusive: in.Exclusive})
}

func (t tools) untag(ctx context.Context, c *client.Client, in untagInput) (untagResult, error) {
	if err := c.Deployments().Untag(ctx, in.Flow, in.Tag, in.Version); err != nil {
		return untagResult{}, err
	}
	return untagResult{Flow: in.Flow, Tag: in.Tag, Version: in.Version, Removed: true}, nil
}

func (t tools) delete(ctx context.Context, c *client.Client, in deleteInput) (deleteResult, error) {
	if err := c.Deployments().Delete(ctx, in.Flow, in.Version); err != nil {
		return deleteResult{}, err
	}
	return deleteResult{Flow: in.Flow, Version: in.Version, Deleted: true}, nil
}

func (t tools) history(ctx context.Context, c *client.Client, in historyInput) (client.Page[registry.RouteChange], error) {
	p, err := c.Deployments().History(ctx, in.Flow, in.Tag, client.ListOptions{NextToken: in.NextToken})
	if err != nil {
		return p, err
	}
	if p.Items == nil {
		p.Items = []registry.RouteChange{}
	}
	return p, nil
}

func (t tools) executionGet(ctx context.Context, c *client.Client, in execInput) (registry.Execution, error) {
	return c.Executions().Get(ctx, in.ExecID)
}

func (t tools) executionCancel(ctx context.Context, c *client.Client, in execInput) (registry.Execution, error) {
	return c.Executions().Cancel(ctx, in.ExecID)
}
