package registry

import (
	"slices"
	"strings"
)

// FlowDeletion reports what deleting a flow removed. Its executions are not
// part of it: they stay readable by id and in the flow's execution list.
type FlowDeletion struct {
	Project string `json:"project"`
	Flow    string `json:"flow"`
	// Versions are the versions removed, ascending.
	Versions []int `json:"versions"`
	// Tags are the routes removed: tag → the versions it routed to.
	Tags map[string][]int `json:"tags"`
	// Forced is true when the delete was asked with force, so routes other
	// than default may have been removed.
	Forced bool `json:"forced"`
	// NextVersion is the version the flow's next deploy gets: numbers are
	// never reused, also across a delete (I1).
	NextVersion int `json:"next_version"`
	// RouteRevision is a revision above every one any tag of the flow had
	// before the delete, which the tags' later revisions do not go under
	// (DynamoDB: the route clock of the reset head), answered in
	// Kitaru-Route-Revision for read-your-writes through a route cache
	// (docs/route-cache.md); 0 from a store whose tags keep separate
	// revisions (SQLite, which no route cache serves).
	RouteRevision int64 `json:"-"`
}

// BlockingTags are the routes that keep a flow from being deleted without
// force: every exclusive tag other than default that routes to a version,
// sorted. default is not among them: every flow with a version has it.
func (r Routes) BlockingTags() []string {
	var names []string
	for name, t := range r {
		if t.Exclusive && name != DefaultTag && len(t.Versions) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// RemovedTags renders the routes a flow delete removes, free tags left out.
func (r Routes) RemovedTags() map[string][]int {
	tags := map[string][]int{}
	for name, t := range r {
		if len(t.Versions) > 0 {
			tags[name] = slices.Clone(t.Versions)
		}
	}
	return tags
}

// FlowHasRoutes is the conflict of a flow delete while exclusive tags other
// than default route to the flow's versions.
func FlowHasRoutes(flow string, tags []string) *Error {
	return Errorf(CodeConflict, "flow %q still routes exclusive tags %s to its versions; move or remove them first, or delete with force=true to remove them too", flow, strings.Join(tags, ", ")).
		WithDetails("flow", flow).WithDetails("exclusive_tags", tags).WithReason(ReasonFlowHasRoutes)
}

// FlowBeingDeleted is the conflict of a change to a flow while a delete of
// the whole flow is under way.
func FlowBeingDeleted(flow string) *Error {
	return Errorf(CodeConflict, "flow %q is being deleted; retry once the delete has finished (a delete that was interrupted finishes when it is sent again)", flow).
		WithDetails("flow", flow).WithReason(ReasonFlowBeingDeleted)
}
