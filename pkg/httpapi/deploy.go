package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kitaru/deployments/pkg/registry"
)

// deployBody is the body of POST /v1/flows/{flow}/deployments.
type deployBody struct {
	Entrypoint  string          `json:"entrypoint"`
	Source      *sourceBody     `json:"source"`
	Inputs      json.RawMessage `json:"inputs"`
	InputSchema json.RawMessage `json:"input_schema"`
	Tag         string          `json:"tag"`
	Exclusive   bool            `json:"exclusive"`
	Stack       string          `json:"stack"`
	Description string          `json:"description"`
}

func (h *Handler) deploy(ctx context.Context, c *call) (reply, error) {
	var b deployBody
	if err := decodeRequest(c, &b, false); err != nil {
		return reply{}, err
	}
	stack, err := h.cfg.Stacks.Choose(b.Stack)
	if err != nil {
		return reply{}, err
	}
	req := registry.DeployRequest{
		Project:     c.principal.Project,
		Flow:        c.flow,
		Entrypoint:  b.Entrypoint,
		Inputs:      b.Inputs,
		InputSchema: b.InputSchema,
		Tag:         b.Tag,
		Exclusive:   b.Exclusive,
		Stack:       stack.Name,
		Description: b.Description,
		By:          c.principal.ID,
	}
	// Check what is cheap before storing the bundle.
	if err := req.Normalize(); err != nil {
		return reply{}, err
	}
	if req.Source, err = h.saveSource(ctx, c.principal.Project, b.Source, req.Entrypoint); err != nil {
		return reply{}, err
	}
	d, err := h.store.Deploy(ctx, req)
	if err != nil {
		return reply{}, fmt.Errorf("deploy %s: %w", c.flow, err)
	}
	location := "/v1/flows/" + d.Flow + "/deployments/" + strconv.Itoa(d.Version)
	return reply{status: http.StatusCreated, body: d, header: map[string]string{"Location": location}}, nil
}

func (h *Handler) deleteDeployment(ctx context.Context, c *call) (reply, error) {
	if err := h.store.DeleteDeployment(ctx, c.principal.Project, c.flow, c.version, c.principal.ID); err != nil {
		return reply{}, fmt.Errorf("delete %s v%d: %w", c.flow, c.version, err)
	}
	return reply{status: http.StatusNoContent}, nil
}

// stacksBody is the answer of GET /v1/stacks.
type stacksBody struct {
	Items   []registry.Stack `json:"items"`
	Default string           `json:"default"`
}

func (h *Handler) listStacks(context.Context, *call) (reply, error) {
	items := append([]registry.Stack{}, h.cfg.Stacks.All...)
	return reply{status: http.StatusOK, body: stacksBody{Items: items, Default: h.cfg.Stacks.Default}}, nil
}
