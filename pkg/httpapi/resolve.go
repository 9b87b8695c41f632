package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kitaru/deployments/pkg/registry"
)

func (h *Handler) listFlows(ctx context.Context, c *call) (reply, error) {
	page, err := c.page()
	if err != nil {
		return reply{}, err
	}
	p, err := h.store.ListFlows(ctx, c.principal.Project, page)
	if err != nil {
		return reply{}, fmt.Errorf("list flows: %w", err)
	}
	return listReply(p), nil
}

func (h *Handler) getFlow(ctx context.Context, c *call) (reply, error) {
	f, err := h.store.GetFlow(ctx, c.principal.Project, c.flow)
	if err != nil {
		return reply{}, fmt.Errorf("get flow %s: %w", c.flow, err)
	}
	return reply{status: http.StatusOK, body: f}, nil
}

func (h *Handler) listDeployments(ctx context.Context, c *call) (reply, error) {
	page, err := c.page()
	if err != nil {
		return reply{}, err
	}
	p, err := h.store.ListDeployments(ctx, c.principal.Project, c.flow, page)
	if err != nil {
		return reply{}, fmt.Errorf("list deployments of %s: %w", c.flow, err)
	}
	return listReply(p), nil
}

func (h *Handler) getDeployment(ctx context.Context, c *call) (reply, error) {
	d, err := h.store.GetDeployment(ctx, c.principal.Project, c.flow, c.version)
	if err != nil {
		return reply{}, fmt.Errorf("get %s v%d: %w", c.flow, c.version, err)
	}
	return reply{status: http.StatusOK, body: d}, nil
}

func (h *Handler) resolve(ctx context.Context, c *call) (reply, error) {
	sel, err := c.selector()
	if err != nil {
		return reply{}, err
	}
	if ctx, err = c.routeRevisionContext(ctx); err != nil {
		return reply{}, err
	}
	res, err := h.store.Resolve(ctx, c.principal.Project, c.flow, sel)
	if err != nil {
		return reply{}, fmt.Errorf("resolve %s of %s: %w", sel, c.flow, err)
	}
	var header map[string]string
	if res.Route != nil {
		header = etag(res.Route.Revision)
	}
	return reply{status: http.StatusOK, body: res, header: header}, nil
}

// selector reads ?tag=T or ?version=N; neither selects the default tag.
func (c *call) selector() (registry.Selector, error) {
	var sel registry.Selector
	tag, hasTag, err := c.query("tag")
	if err != nil {
		return sel, err
	}
	version, hasVersion, err := c.query("version")
	if err != nil {
		return sel, err
	}
	if hasTag && hasVersion {
		return sel, registry.Errorf(registry.CodeInvalidArgument, "pass either ?tag= or ?version=, not both")
	}
	if hasTag {
		if err := registry.ValidateTagName(tag); err != nil {
			return sel, err
		}
		sel.Tag = tag
	}
	if hasVersion {
		if sel.Version, err = registry.ParseVersion(version); err != nil {
			return sel, err
		}
	}
	if sel.StickyKey, _, err = c.query("sticky_key"); err != nil {
		return sel, err
	}
	return sel, sel.Normalize()
}
