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
		return registry.Tag{}, registry.FlowNotFound(flow)
	}
	t, ok := h.routes(flow)[tag]
	if !ok {
		// A tag removed from its last version is gone, as for resolve.
		return registry.Tag{}, registry.TagNotFound(flow, tag)
	}
	return t, nil
}
