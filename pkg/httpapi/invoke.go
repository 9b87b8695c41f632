package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
)

func (h *Handler) invoke(ctx context.Context, c *call) (reply, error) {
	var b api.InvokeRequest
	if err := decodeRequest(c, &b, true); err != nil {
		return reply{}, err
	}
	sel := registry.Selector{Tag: b.Tag, StickyKey: b.StickyKey}
	if b.Version != nil {
		if err := registry.ValidateVersion(*b.Version); err != nil {
			return reply{}, err
		}
		sel.Version = *b.Version
	}
	return h.startExecution(ctx, c, sel, b.Inputs)
}

func (h *Handler) invokePinned(ctx context.Context, c *call) (reply, error) {
	var b api.PinnedInvokeRequest
	if err := decodeRequest(c, &b, true); err != nil {
		return reply{}, err
	}
	return h.startExecution(ctx, c, registry.Selector{Version: c.version}, b.Inputs)
}

func (h *Handler) startExecution(ctx context.Context, c *call, sel registry.Selector, inputs json.RawMessage) (reply, error) {
	ctx, err := c.routeRevisionContext(ctx)
	if err != nil {
		return reply{}, err
	}
	exec, created, err := h.cfg.Invoker.Invoke(ctx, invoke.Request{
		Project: c.principal.Project, Flow: c.flow, Selector: sel, Inputs: inputs,
		IdempotencyKey: c.header("Idempotency-Key"), By: c.principal.ID,
	})
	if err != nil {
		return reply{}, fmt.Errorf("invoke %s: %w", c.flow, err)
	}
	r := reply{status: http.StatusAccepted, body: exec, header: map[string]string{"Location": "/v1/executions/" + exec.ExecID}}
	if !created {
		r.status, r.header[HeaderReplayed] = http.StatusOK, "true"
	}
	return r, nil
}

// execIDPattern is the shape of the ids NewExecID makes; anything else cannot exist.
var execIDPattern = regexp.MustCompile(`^ex_[0-9a-z]{26}$`)

func (c *call) execID() (string, error) {
	id := c.params["exec_id"]
	if !execIDPattern.MatchString(id) {
		return "", registry.Errorf(registry.CodeNotFound, "execution %q does not exist; execution ids look like ex_01j…: list the flow's executions to find its id", clipID(id)).
			WithDetails("exec_id", clipID(id)).WithReason(registry.ReasonExecutionNotFound)
	}
	return id, nil
}

func clipID(id string) string {
	if len(id) > 40 {
		return id[:40] + "…"
	}
	return id
}

// MaxExecutionWait bounds GET /v1/executions/{id}?wait=: below API
// Gateway's 29 s integration timeout and DefaultRequestTimeout, with room
// for the last read and the answer.
const MaxExecutionWait = 20 * time.Second

// waitMargin is kept between a wait's end and the request's deadline, so a
// wait cut short by RequestTimeout still answers the record.
const waitMargin = time.Second

// wait reads the wait query parameter: a Go duration from 0s to
// MaxExecutionWait; absent is 0.
func (c *call) wait() (time.Duration, error) {
	v, ok, err := c.query("wait")
	if err != nil || !ok {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > MaxExecutionWait {
		return 0, registry.Errorf(registry.CodeInvalidArgument,
			"query parameter wait %q is out of range: use a duration from 0s to %v, such as 20s or 500ms", clipID(v), MaxExecutionWait).
			WithDetails("parameter", "wait").WithDetails("max", MaxExecutionWait.String())
	}
	return d, nil
}

// getExecution answers the execution; with ?wait= it holds the answer until
// the execution is no longer running or the wait has passed.
func (h *Handler) getExecution(ctx context.Context, c *call) (reply, error) {
	id, err := c.execID()
	if err != nil {
		return reply{}, err
	}
	wait, err := c.wait()
	if err != nil {
		return reply{}, err
	}
	var exec registry.Execution
	if wait > 0 {
		until := time.Now().Add(wait)
		if dl, ok := ctx.Deadline(); ok && dl.Add(-waitMargin).Before(until) {
			until = dl.Add(-waitMargin)
		}
		exec, err = h.cfg.Watcher.Wait(ctx, c.principal.Project, id, until)
	} else {
		exec, err = h.cfg.Executions.GetExecution(ctx, c.principal.Project, id)
	}
	if err != nil {
		return reply{}, fmt.Errorf("get execution %s: %w", id, err)
	}
	return reply{status: http.StatusOK, body: exec}, nil
}

func (h *Handler) cancelExecution(ctx context.Context, c *call) (reply, error) {
	var none struct{}
	if err := decodeRequest(c, &none, true); err != nil {
		return reply{}, err
	}
	id, err := c.execID()
	if err != nil {
		return reply{}, err
	}
	exec, err := h.cfg.Invoker.Cancel(ctx, c.principal.Project, id)
	if err != nil {
		return reply{}, fmt.Errorf("cancel execution %s: %w", id, err)
	}
	return reply{status: http.StatusOK, body: exec}, nil
}

func (h *Handler) listExecutions(ctx context.Context, c *call) (reply, error) {
	page, err := c.page()
	if err != nil {
		return reply{}, err
	}
	filter, err := c.executionFilter(h.cfg.Now())
	if err != nil {
		return reply{}, err
	}
	p, err := h.cfg.Executions.ListExecutionsBy(ctx, c.principal.Project, c.flow, filter, page)
	if err != nil {
		return reply{}, fmt.Errorf("list executions of %s: %w", c.flow, err)
	}
	return listReply(p), nil
}
