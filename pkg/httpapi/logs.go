package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/registry"
)

// ExecutionLogs reads the logs runners ship; artifacts.Store is one.
type ExecutionLogs interface {
	// ReadLog reads at most limit bytes of an execution's log from byte
	// offset cursor; final says the log will not grow (a cursor past its end
	// is then invalid_argument). Errors:
	// invalid_argument (cursor), internal, unavailable.
	ReadLog(ctx context.Context, project, execID string, cursor int64, limit int, final bool) (artifacts.LogPage, error)
}

// executionLogs answers a page of an execution's log from ?cursor=. The
// record is read first: a log read after the execution ended is complete
// (the runner ships its last chunk before it answers), so ended can be
// told from what this read found.
func (h *Handler) executionLogs(ctx context.Context, c *call) (reply, error) {
	id, err := c.execID()
	if err != nil {
		return reply{}, err
	}
	cursor, err := c.logCursor()
	if err != nil {
		return reply{}, err
	}
	exec, err := h.cfg.Executions.GetExecution(ctx, c.principal.Project, id)
	if err != nil {
		return reply{}, fmt.Errorf("get execution %s: %w", id, err)
	}
	if h.cfg.Logs == nil {
		return reply{}, registry.Errorf(registry.CodeUnavailable, "this server keeps no execution logs; read the execution's result and error instead")
	}
	final := exec.Status.Terminal()
	page, err := h.cfg.Logs.ReadLog(ctx, c.principal.Project, id, cursor, api.MaxLogPageBytes, final)
	if err != nil {
		return reply{}, fmt.Errorf("read the log of %s: %w", id, err)
	}
	return reply{status: http.StatusOK, body: api.ExecutionLog{
		ExecID: id, Status: exec.Status, Data: string(page.Data),
		Cursor: strconv.FormatInt(cursor, 10), NextCursor: strconv.FormatInt(page.Next, 10),
		Ended: final && page.AtEnd,
	}}, nil
}

// logCursor reads the cursor query parameter: absent or empty is the start.
func (c *call) logCursor() (int64, error) {
	v, _, err := c.query("cursor")
	if err != nil || v == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > artifacts.LogMaxBytes {
		return 0, registry.Errorf(registry.CodeInvalidArgument, "query parameter cursor %q is not a cursor of this log: pass the next_cursor of the previous page, or no cursor to read from the start", clipID(v)).
			WithDetails("parameter", "cursor")
	}
	return n, nil
}
