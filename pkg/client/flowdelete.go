package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/kitaru/deployments/pkg/registry"
)

// FlowDeletion reports what deleting a flow removed (the server's registry.FlowDeletion).
type FlowDeletion = registry.FlowDeletion

// DeleteFlowOptions qualifies a flow delete.
type DeleteFlowOptions struct {
	// Force also removes exclusive tags other than default that route to
	// the flow's versions; without it such tags make the delete a conflict.
	Force bool
}

// DeleteFlow deletes a flow's versions, routes and history
// (DELETE /v1/flows/{flow}); its executions stay readable, and a flow
// deployed again under the name continues at FlowDeletion.NextVersion.
// Errors: not_found, conflict (reason flow_has_routes: exclusive tags other
// than default route to its versions, details.exclusive_tags names them;
// or flow_being_deleted), permission_denied.
func (c *Client) DeleteFlow(ctx context.Context, flow string, opts DeleteFlowOptions) (FlowDeletion, error) {
	q := url.Values{}
	if opts.Force {
		q.Set("force", "true")
	}
	return fetch[FlowDeletion](ctx, c, call{method: http.MethodDelete, path: flowPath(flow, ""), query: q, keyed: true, route: changedFlow(flow)})
}
