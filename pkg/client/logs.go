package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// ExecutionLog is one page of an execution's log.
type ExecutionLog = api.ExecutionLog

// Following a log: a read that found nothing new while the execution runs
// is repeated after a pause from logPollStart, doubling to logPollMax
// (jittered); the runner ships its output about once a second.
const (
	logPollStart = 250 * time.Millisecond
	logPollMax   = 2 * time.Second
)

// Logs reads one page of an execution's log from cursor ("" is the start):
// at most 256 KiB; pass its NextCursor to read on. Ended says the execution
// has ended and nothing follows. Errors: not_found, invalid_argument.
func (e *Executions) Logs(ctx context.Context, id, cursor string) (ExecutionLog, error) {
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	return fetch[ExecutionLog](ctx, e.c, call{method: http.MethodGet, path: execPath(id, "/logs"), query: q, idempotent: true})
}

// FollowLogs writes an execution's log to w from cursor ("" is the start)
// as it arrives, until the execution has ended and its log is read, or ctx
// ends. It returns the last page read (its Status is the execution's, its
// NextCursor where to go on). Errors: as Logs, and w's.
func (e *Executions) FollowLogs(ctx context.Context, id, cursor string, w io.Writer) (ExecutionLog, error) {
	pause := logPollStart
	for {
		page, err := e.Logs(ctx, id, cursor)
		if err != nil {
			return page, err
		}
		if _, err := io.WriteString(w, page.Data); err != nil {
			return page, err
		}
		if page.Ended {
			return page, nil
		}
		if page.Data != "" {
			pause = logPollStart
		}
		if page.Data == "" || page.NextCursor == cursor {
			if err := sleep(ctx, jitter(pause)); err != nil {
				return page, err
			}
			pause = min(2*pause, logPollMax)
		}
		cursor = page.NextCursor
	}
}

// Logs reads one page of the execution's log, as Executions.Logs.
func (h *Handle) Logs(ctx context.Context, cursor string) (ExecutionLog, error) {
	return h.c.Executions().Logs(ctx, h.ExecID, cursor)
}

// FollowLogs writes the execution's log to w until it has ended, as
// Executions.FollowLogs, and returns its status then.
func (h *Handle) FollowLogs(ctx context.Context, w io.Writer) (registry.ExecStatus, error) {
	page, err := h.c.Executions().FollowLogs(ctx, h.ExecID, "", w)
	return page.Status, err
}

// maxLatestPages bounds how many pages Latest reads; each filtered page
// is the server's bounded read of the flow's history.
const maxLatestPages = 10

// Latest returns the flow's newest execution started through sel: invoked
// by tag sel.Tag, or of version sel.Version, or any with an empty sel. The
// server filters (ListBy with a limit of one), so it is one small request
// unless the route's newest execution lies beyond the server's read of one
// page: then it pages on, at most 10 pages. Errors: not_found (none found),
// invalid_argument.
func (e *Executions) Latest(ctx context.Context, flow string, sel Selector) (registry.Execution, error) {
	opts := ExecutionListOptions{ListOptions: ListOptions{Limit: 1}, Tag: sel.Tag, Version: sel.Version}
	exhausted := false
	for range maxLatestPages {
		page, err := e.ListBy(ctx, flow, opts)
		if err != nil {
			return registry.Execution{}, err
		}
		if len(page.Items) > 0 {
			return page.Items[0], nil
		}
		if page.NextToken == "" {
			exhausted = true
			break
		}
		opts.NextToken = page.NextToken
	}
	route := "any route"
	if sel.Tag != "" || sel.Version != 0 {
		route = sel.String()
	}
	where := ""
	if !exhausted {
		where = fmt.Sprintf(" in the newest %d pages of its history", maxLatestPages)
	}
	return registry.Execution{}, registry.Errorf(registry.CodeNotFound, "flow %q has no execution through %s%s; invoke it first, or list them with kitaru executions list %s", flow, route, where, flow).
		WithDetails("flow", flow)
}
