package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// getTag answers GET /v1/flows/{flow}/tags/{tag}: the tag with its revision,
// which the ETag header carries as If-Match takes it.
func (h *Handler) getTag(ctx context.Context, c *call) (reply, error) {
	t, err := h.store.GetTag(ctx, c.principal.Project, c.flow, c.tag)
	if err != nil {
		return reply{}, fmt.Errorf("get tag %s of %s: %w", c.tag, c.flow, err)
	}
	return reply{status: http.StatusOK, body: t, header: etag(t.Revision)}, nil
}

// etag is the ETag header of a tag revision: a strong, quoted entity tag,
// which If-Match accepts as it is.
func etag(revision int64) map[string]string {
	return map[string]string{"ETag": `"` + strconv.FormatInt(revision, 10) + `"`}
}
