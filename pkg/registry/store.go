package registry

import "context"

// Store keeps deployments and routes. Every method is scoped to one project;
// nothing in one project is visible from another.
type Store interface {
	// Deploy allocates the next version of req.Flow, saves it and attaches its
	// routing tag (plus `default` on the flow's first deploy), atomically.
	// Errors: invalid_argument, payload_too_large, conflict (tag mode clash, I5).
	Deploy(ctx context.Context, req DeployRequest) (Deployment, error)
	// GetDeployment returns one version. Errors: not_found.
	GetDeployment(ctx context.Context, project, flow string, version int) (Deployment, error)
	// ListDeployments returns versions newest first. Errors: invalid_argument (bad token), not_found (no flow).
	ListDeployments(ctx context.Context, project, flow string, page PageRequest) (Page[Deployment], error)
	// DeleteDeployment deletes a version and the shared tags it holds.
	// Errors: not_found, conflict (holds exclusive tags, I4).
	DeleteDeployment(ctx context.Context, project, flow string, version int, by string) error
	// DeleteFlow deletes a flow: its versions, routes and route history, in
	// one step as seen by readers. It refuses while exclusive tags other than
	// default route to its versions, unless force. The version counter
	// survives, so a re-created flow continues after the old numbers (I1);
	// executions stay readable. A delete that was interrupted finishes when
	// sent again.
	// Errors: invalid_argument, not_found (no flow), conflict (routes held,
	// or a concurrent change of the flow), unavailable.
	DeleteFlow(ctx context.Context, project, flow string, force bool, by string) (FlowDeletion, error)
	// PutTag adds a tag to a version; an exclusive tag moves there atomically,
	// as a compare-and-swap on the tag's revision: the Tag returned is what was
	// committed (or the tag as it is, when it was already routed so).
	// Errors: invalid_argument, not_found (flow or version), conflict (mode clash,
	// or superseded by a later change to the tag), precondition_failed (stale revision), unavailable.
	PutTag(ctx context.Context, req TagRequest) (Tag, error)
	// RemoveTag removes a tag from a version.
	// Errors: not_found (tag not on that version), conflict (`default`, or superseded), precondition_failed, unavailable.
	RemoveTag(ctx context.Context, req TagRequest) error
	// RollbackTag moves an exclusive tag back to the version it pointed at before its last move,
	// as a compare-and-swap on the route it read.
	// Errors: not_found, conflict (shared tag, nothing to roll back to, the earlier version
	// was deleted, or the tag changed while rolling back), unavailable.
	RollbackTag(ctx context.Context, project, flow, tag, by string) (Tag, error)
	// GetTag returns one tag with the versions it routes to and its revision
	// (what If-Match compares), with a consistent read.
	// Errors: not_found (no flow, or no such tag), invalid_argument, unavailable.
	GetTag(ctx context.Context, project, flow, tag string) (Tag, error)
	// TagHistory returns a tag's route changes, newest first. Errors: not_found (no flow).
	TagHistory(ctx context.Context, project, flow, tag string, page PageRequest) (Page[RouteChange], error)
	// Resolve picks the deployment a selector names, with consistent reads.
	// Errors: not_found (flow, tag or version), conflict (ambiguous shared tag).
	Resolve(ctx context.Context, project, flow string, sel Selector) (Resolution, error)
	// GetFlow summarises one flow. Errors: not_found.
	GetFlow(ctx context.Context, project, flow string) (FlowSummary, error)
	// ListFlows summarises the project's flows by name.
	ListFlows(ctx context.Context, project string, page PageRequest) (Page[FlowSummary], error)
}
