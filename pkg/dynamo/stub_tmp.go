package dynamo

import (
	"context"

	"github.com/kitaru/deployments/pkg/registry"
)

var errTODO = registry.Errorf(registry.CodeUnavailable, "store method not written yet")

func (s *Store) Deploy(ctx context.Context, req registry.DeployRequest) (registry.Deployment, error) {
	return registry.Deployment{}, errTODO
}
func (s *Store) GetDeployment(ctx context.Context, project, flow string, version int) (registry.Deployment, error) {
	return registry.Deployment{}, errTODO
}
func (s *Store) ListDeployments(ctx context.Context, project, flow string, page registry.PageRequest) (registry.Page[registry.Deployment], error) {
	return registry.Page[registry.Deployment]{}, errTODO
}
func (s *Store) DeleteDeployment(ctx context.Context, project, flow string, version int, by string) error {
	return errTODO
}
func (s *Store) PutTag(ctx context.Context, req registry.TagRequest) (registry.Tag, error) {
	return registry.Tag{}, errTODO
}
func (s *Store) RemoveTag(ctx context.Context, req registry.TagRequest) error { return errTODO }
func (s *Store) RollbackTag(ctx context.Context, project, flow, tag, by string) (registry.Tag, error) {
	return registry.Tag{}, errTODO
}
func (s *Store) TagHistory(ctx context.Context, project, flow, tag string, page registry.PageRequest) (registry.Page[registry.RouteChange], error) {
	return registry.Page[registry.RouteChange]{}, errTODO
}
func (s *Store) Resolve(ctx context.Context, project, flow string, sel registry.Selector) (registry.Resolution, error) {
	return registry.Resolution{}, errTODO
}
func (s *Store) GetFlow(ctx context.Context, project, flow string) (registry.FlowSummary, error) {
	return registry.FlowSummary{}, errTODO
}
func (s *Store) ListFlows(ctx context.Context, project string, page registry.PageRequest) (registry.Page[registry.FlowSummary], error) {
	return registry.Page[registry.FlowSummary]{}, errTODO
}
