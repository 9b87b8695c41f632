package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

func (h *Handler) putTag(ctx context.Context, c *call) (reply, error) {
	var b api.TagRequest
	if err := decodeRequest(c, &b, false); err != nil {
		return reply{}, err
	}
	var version int
	switch {
	case b.Version != nil && b.Split != nil:
		return reply{}, registry.Errorf(registry.CodeInvalidArgument, "pass either \"version\" or \"split\", not both: version points the tag at one version, split at several by weight").
			WithReason(registry.ReasonInvalidSplit)
	case b.Version != nil:
		version = *b.Version
	case b.Split == nil:
		return reply{}, registry.Errorf(registry.CodeInvalidArgument, "field \"version\" is required: the version the tag should point at (or \"split\": {\"3\": 90, \"4\": 10} to split it by weight)")
	}
	// A split is exclusive unless the body asks otherwise (then refused); a
	// version is shared unless asked exclusive, as before splits.
	exclusive := b.Split != nil
	if b.Exclusive != nil {
		exclusive = *b.Exclusive
	}
	req, err := c.tagRequest(version, b.Split, exclusive)
	if err != nil {
		return reply{}, err
	}
	t, err := h.store.PutTag(ctx, req)
	if err != nil {
		return reply{}, fmt.Errorf("put tag %s on %s %v: %w", c.tag, c.flow, req.Targets(), err)
	}
	return reply{status: http.StatusOK, body: t, header: revisionHeader(t.Revision)}, nil
}

func (h *Handler) removeTag(ctx context.Context, c *call) (reply, error) {
	v, ok, err := c.query("version")
	if err != nil {
		return reply{}, err
	}
	if !ok {
		return reply{}, registry.Errorf(registry.CodeInvalidArgument, "pass ?version=N: the version to remove tag %q from", c.tag)
	}
	version, err := registry.ParseVersion(v)
	if err != nil {
		return reply{}, err
	}
	req, err := c.tagRequest(version, nil, false)
	if err != nil {
		return reply{}, err
	}
	before := h.tagRevision(ctx, req.Project, req.Flow, req.Tag)
	if err := h.store.RemoveTag(ctx, req); err != nil {
		return reply{}, fmt.Errorf("remove tag %s from %s v%d: %w", c.tag, c.flow, version, err)
	}
	return reply{status: http.StatusNoContent, header: h.routeRevision(ctx, req.Project, req.Flow, req.Tag, before)}, nil
}

// tagRequest builds and validates a tag change of the called flow and tag,
// conditional on the If-Match revision when one is sent.
func (c *call) tagRequest(version int, split registry.Split, exclusive bool) (registry.TagRequest, error) {
	req := registry.TagRequest{
		Project:   c.principal.Project,
		Flow:      c.flow,
		Tag:       c.tag,
		Version:   version,
		Split:     split,
		Exclusive: exclusive,
		By:        c.principal.ID,
	}
	if m := c.header("If-Match"); m != "" {
		rev, err := registry.ParseRevision(m)
		if err != nil {
			return req, err
		}
		req.IfRevision = &rev
	}
	return req, req.Normalize()
}

func (h *Handler) tagHistory(ctx context.Context, c *call) (reply, error) {
	page, err := c.page()
	if err != nil {
		return reply{}, err
	}
	p, err := h.store.TagHistory(ctx, c.principal.Project, c.flow, c.tag, page)
	if err != nil {
		return reply{}, fmt.Errorf("history of tag %s of %s: %w", c.tag, c.flow, err)
	}
	return listReply(p), nil
}

func (h *Handler) rollbackTag(ctx context.Context, c *call) (reply, error) {
	if err := decodeRequest(c, &struct{}{}, true); err != nil {
		return reply{}, err
	}
	t, err := h.store.RollbackTag(ctx, c.principal.Project, c.flow, c.tag, c.principal.ID)
	if err != nil {
		return reply{}, fmt.Errorf("roll back tag %s of %s: %w", c.tag, c.flow, err)
	}
	return reply{status: http.StatusOK, body: t, header: revisionHeader(t.Revision)}, nil
}
