package mcpserver

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/client"
)

// ToolExecutionLogs reads a page of an execution's log.
const ToolExecutionLogs = "kitaru_executions_logs"

type logsInput struct {
	ExecID string `json:"exec_id" jsonschema:"the execution's id (ex_…), as kitaru_deployments_invoke returned it"`
	Cursor string `json:"cursor,omitempty" jsonschema:"the next_cursor of the previous answer, to read what follows; empty reads from the start"`
}

func (t tools) registerLogs(s *mcp.Server) {
	addTool(s, t, &mcp.Tool{
		Name:  ToolExecutionLogs,
		Title: "Read an execution's log",
		Description: `Read what an execution's flow printed (stdout and stderr, as written) and the runner's own "[kitaru]" lines, from "cursor" on: "data" holds at most 256 KiB. ` +
			`Call again with "next_cursor" to read on; "ended" true means the execution has ended and nothing follows. While it runs, new output appears about once a second. ` +
			`A log keeps at most 10 MiB: past that the output is dropped and the log says so. Use it to see why a flow failed or what it is doing.`,
		Annotations: readOnly,
	}, t.executionLogs)
}

func (t tools) executionLogs(ctx context.Context, c *client.Client, in logsInput) (api.ExecutionLog, error) {
	return c.Executions().Logs(ctx, in.ExecID, in.Cursor)
}
