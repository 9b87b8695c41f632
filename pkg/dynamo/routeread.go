package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/registry"
)

// ReadRoutes reads a flow's routing table: one consistent GetItem of the
// head (what resolve by tag reads first). A route cache (pkg/routecache)
// keeps it for a bounded time. Errors: not_found (no flow), unavailable.
func (s *Store) ReadRoutes(ctx context.Context, project, flow string) (registry.Routes, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return nil, err
	}
	h, err := s.getHead(ctx, flowPK(project, flow))
	if err != nil {
		return nil, fmt.Errorf("read routes of %s: %w", flow, err)
	}
	if !h.hasDeployments() {
		return nil, registry.FlowNotFound(flow)
	}
	return h.routes(flow), nil
}

// ReadVersion reads one version item alone, consistently, without its tags
// (they live in the head): the immutable part of a deployment, which a
// route cache keeps without a time bound. Errors: not_found, unavailable.
func (s *Store) ReadVersion(ctx context.Context, project, flow string, version int) (registry.Deployment, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(flowPK(project, flow), versionSK(version)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return registry.Deployment{}, engineError(fmt.Sprintf("read %s v%d", flow, version), err)
	}
	if len(out.Item) == 0 {
		return registry.Deployment{}, registry.VersionNotFound(flow, version)
	}
	v, err := decodeVersion(out.Item)
	if err != nil {
		return registry.Deployment{}, err
	}
	return v.deployment(nil), nil
}
