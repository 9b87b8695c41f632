package dynamo

import (
	"context"

	"github.com/kitaru/deployments/pkg/registry"
)

// GetTag reads one tag with its revision: one consistent GetItem of the flow
// head, where the routes live, whatever the number of versions (I7).
func (s *Store) GetTag(ctx context.Context, project, flow, tag string) (registry.Tag, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Tag{}, err
	}
	if err := registry.ValidateTagName(tag); err != nil {
		return registry.Tag{}, err
	}
	h, err := s.getHead(ctx, flowPK(project, flow))
	if err != nil {
		return registry.Tag{}, err
	}
	if !h.hasDeployments() {
		return registry.Tag{}, flowNotFound(flow)
	}
	t, ok := h.routes(flow)[tag]
	if !ok {
		// A tag removed from its last version is gone, as for resolve.
		return registry.Tag{}, registry.Errorf(registry.CodeNotFound, "flow %q has no tag %q; list its routes with `kitaru flow show %s`", flow, tag, flow).
			WithDetails("flow", flow).WithDetails("tag", tag)
	}
	return t, nil
}
