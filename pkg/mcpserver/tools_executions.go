package mcpserver

import (
	"context"
	"errors"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// Tools that read a flow's executions.
const (
	ToolExecutionList = "kitaru_executions_list"
	ToolExecutionWait = "kitaru_executions_wait"
)

type executionListInput struct {
	Flow      string `json:"flow" jsonschema:"the flow's public name, e.g. research_agent (a deleted flow's executions are still listed)"`
	Version   int    `json:"version,omitempty" jsonschema:"only executions that ran this version, however they were invoked"`
	Tag       string `json:"tag,omitempty" jsonschema:"only executions invoked through this tag, e.g. stable (an invocation by version is not one of them)"`
	Status    string `json:"status,omitempty" jsonschema:"only executions in this state: running, completed, failed or cancelled"`
	Since     string `json:"since,omitempty" jsonschema:"only executions started at or after this: an RFC 3339 time, or a duration before now such as 15m, 1h or 24h"`
	NextToken string `json:"next_token,omitempty" jsonschema:"the next_token of the previous answer, to get the next page"`
}

type executionWaitInput struct {
	ExecID      string `json:"exec_id" jsonschema:"the execution's id (ex_…), as kitaru_deployments_invoke or kitaru_executions_list returned it"`
	WaitSeconds int    `json:"wait_seconds,omitempty" jsonschema:"wait up to this many seconds (at most 300) for the execution to end; 0 reads it once"`
}

// registerExecutions adds the tools that list and wait on executions.
func (t tools) registerExecutions(s *mcp.Server) {
	listSchema := inputSchema[executionListInput]()
	listSchema.Properties["status"].Enum = []any{"running", "completed", "failed", "cancelled"}
	addTool(s, t, &mcp.Tool{
		Name:  ToolExecutionList,
		Title: "List a flow's executions",
		Description: `List a flow's executions, newest first, each with its exec_id, the version that ran, the selector it was invoked with (tag or version), status, start and end. ` +
			`Filter by "version" (ran that version), "tag" (invoked through that tag), "status" and "since"; the filters combine. ` +
			`Use it to answer "what ran on stable in the last hour" or "which runs of version 3 failed". A page may hold fewer items than others while next_token is set: call again with next_token until it is empty.`,
		Annotations: readOnly,
		InputSchema: listSchema,
	}, t.executionList)

	waitSchema := inputSchema[executionWaitInput]()
	waitSchema.Properties["wait_seconds"].Minimum = jsonschema.Ptr(0.0)
	waitSchema.Properties["wait_seconds"].Maximum = jsonschema.Ptr(float64(MaxWaitSeconds))
	addTool(s, t, &mcp.Tool{
		Name:  ToolExecutionWait,
		Title: "Wait for an execution to end",
		Description: `Wait up to wait_seconds (at most 300) for an execution to end and return it: completed (with "result"), failed (with "error": type, message, traceback) or cancelled, ` +
			`or still running when the time is up, then call again. Use it to follow an execution that kitaru_deployments_invoke returned running.`,
		Annotations: readOnly,
		InputSchema: waitSchema,
	}, t.executionWait)
}

// since reads Since: an RFC 3339 time, or a positive duration before now.
func (in executionListInput) since() (time.Time, time.Duration, error) { return parseSince(in.Since) }

// parseSince reads a since argument: an RFC 3339 time (at) or a positive
// duration before now (ago); neither when s is empty.
func parseSince(s string) (at time.Time, ago time.Duration, err error) {
	if s == "" {
		return at, 0, nil
	}
	if at, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return at, 0, nil
	}
	if ago, err := time.ParseDuration(s); err == nil && ago > 0 {
		return at, ago, nil
	}
	return at, 0, registry.Errorf(registry.CodeInvalidArgument,
		"since %q is neither an RFC 3339 time (2026-12-01T08:00:00Z) nor a positive duration before now (15m, 1h, 24h)", s).
		WithDetails("since", s).WithReason(registry.ReasonSinceInvalid)
}

func (in executionListInput) check() error {
	_, _, err := in.since()
	return err
}

func (in executionWaitInput) check() error { return checkWait(in.WaitSeconds) }

func (t tools) executionList(ctx context.Context, c *client.Client, in executionListInput) (client.Page[registry.Execution], error) {
	opts := client.ExecutionListOptions{ListOptions: client.ListOptions{NextToken: in.NextToken},
		Version: in.Version, Tag: in.Tag, Status: registry.ExecStatus(in.Status)}
	var err error
	if opts.Since, opts.SinceAgo, err = in.since(); err != nil {
		return client.Page[registry.Execution]{}, err
	}
	p, err := c.Executions().ListBy(ctx, in.Flow, opts)
	if err != nil {
		return p, err
	}
	if p.Items == nil {
		p.Items = []registry.Execution{}
	}
	return p, nil
}

func (t tools) executionWait(ctx context.Context, c *client.Client, in executionWaitInput) (registry.Execution, error) {
	if in.WaitSeconds == 0 {
		return c.Executions().Get(ctx, in.ExecID)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Duration(in.WaitSeconds)*time.Second)
	defer cancel()
	e, err := c.Executions().Wait(wctx, in.ExecID)
	var failed *client.ExecutionError
	switch {
	case err == nil, errors.As(err, &failed), errors.Is(err, client.ErrCancelled):
		return e, nil // ended; its status and result or error say how
	case wctx.Err() != nil && ctx.Err() == nil:
		// Still running when the time was up: answer it as it is now.
		if e, err = c.Executions().Get(ctx, in.ExecID); err == nil {
			return e, nil
		}
	}
	return registry.Execution{}, err
}
