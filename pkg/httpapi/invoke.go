package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
)

func (h *Handler) invoke(ctx context.Context, c *call) (reply, error) {
	var b api.InvokeRequest
	if err := decodeRequest(c, &b, true); err != nil {
		return reply{}, err
	}
	sel := registry.Selector{Tag: b.Tag}
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
		return "", registry.Errorf(registry.CodeNotFound, "execution %q does not exist; execution ids look like ex_01j…, see `kitaru executions list FLOW`", clipID(id))
	}
	return id, nil
}

func clipID(id string) string {
	if len(id) > 40 {
		return id[:40] + "…"
	}
	return id
}

func (h *Handler) getExecution(ctx context.Context, c *call) (reply, error) {
	id, err := c.execID()
	if err != nil {
		return reply{}, err
	}
	exec, err := h.cfg.Executions.GetExecution(ctx, c.principal.Project, id)
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
	p, err := h.cfg.Executions.ListExecutions(ctx, c.principal.Project, c.flow, page)
	if err != nil {
		return reply{}, fmt.Errorf("list executions of %s: %w", c.flow, err)
	}
	return listReply(p), nil
}
