package httpapi

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"strconv"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

func (h *Handler) deploy(ctx context.Context, c *call) (reply, error) {
	var b api.DeployRequest
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
		Build:       b.Build,
		Stack:       stack.Name,
		Description: b.Description,
		Secrets:     b.Secrets,
		By:          c.principal.ID,
	}
	// Check what is cheap before storing the bundle.
	if err := req.Normalize(); err != nil {
		return reply{}, err
	}
	if req.Source, err = h.saveSource(ctx, c.principal.Project, b.Source, req.Entrypoint); err != nil {
		return reply{}, err
	}
	defer h.releaseBundle(ctx, c.principal.Project, req.Source)
	d, err := h.store.Deploy(ctx, req)
	if err != nil {
		return reply{}, fmt.Errorf("deploy %s: %w", c.flow, err)
	}
	header := map[string]string{"Location": "/v1/flows/" + d.Flow + "/deployments/" + strconv.Itoa(d.Version)}
	if !req.Build {
		maps.Copy(header, h.routeRevision(ctx, req.Project, req.Flow, req.Tag, -1))
	}
	return reply{status: http.StatusCreated, body: d, header: header}, nil
}

func (h *Handler) deleteDeployment(ctx context.Context, c *call) (reply, error) {
	if err := h.store.DeleteDeployment(ctx, c.principal.Project, c.flow, c.version, c.principal.ID); err != nil {
		return reply{}, fmt.Errorf("delete %s v%d: %w", c.flow, c.version, err)
	}
	return reply{status: http.StatusNoContent}, nil
}

func (h *Handler) listStacks(context.Context, *call) (reply, error) {
	items := append([]registry.Stack{}, h.cfg.Stacks.All...)
	return reply{status: http.StatusOK, body: api.StackList{Items: items, Default: h.cfg.Stacks.Default}}, nil
}
