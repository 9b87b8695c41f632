package httpapi

import (
	"context"
	"strconv"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/routecache"
)

// This file holds read-your-writes for routes (docs/route-cache.md): a
// response that changes a tag's route carries the tag's revision after the
// change in Kitaru-Route-Revision, and a resolve or invoke that sends it
// back is not answered from a cached route older than that change.

// routeRevisionContext carries the Kitaru-Route-Revision the caller sent,
// if any, to the resolve (routecache.WithMinRevision).
func (c *call) routeRevisionContext(ctx context.Context) (context.Context, error) {
	v := strings.TrimSpace(c.header(registry.HeaderRouteRevision))
	if v == "" {
		return ctx, nil
	}
	rev, err := strconv.ParseInt(v, 10, 64)
	if err != nil || rev < 0 {
		return ctx, registry.Errorf(registry.CodeInvalidArgument, "header %s %q is not a route revision; send back the number a tag change answered with, or leave the header out",
			registry.HeaderRouteRevision, v).WithDetails("header", registry.HeaderRouteRevision)
	}
	return routecache.WithMinRevision(ctx, rev), nil
}

// routeRevision is the header answering a change of tag whose revision the
// store did not report: the tag's revision read after the change, or,
// when the change left the tag routing nothing (it reads as not found),
// at least one above the revision read before it (before, -1 if none). A
// read that fails leaves the header out: the change itself succeeded.
func (h *Handler) routeRevision(ctx context.Context, project, flow, tag string, before int64) map[string]string {
	t, err := h.store.GetTag(ctx, project, flow, tag)
	switch {
	case err == nil:
		return revisionHeader(t.Revision)
	case registry.CodeOf(err) == registry.CodeNotFound && before >= 0:
		return revisionHeader(before + 1)
	}
	return nil
}

// tagRevision is a tag's revision before a change, -1 when it cannot be read.
func (h *Handler) tagRevision(ctx context.Context, project, flow, tag string) int64 {
	t, err := h.store.GetTag(ctx, project, flow, tag)
	if err != nil {
		return -1
	}
	return t.Revision
}

func revisionHeader(revision int64) map[string]string {
	return map[string]string{registry.HeaderRouteRevision: strconv.FormatInt(revision, 10)}
}
