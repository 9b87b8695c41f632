package registry

import (
	"strconv"
	"strings"
	"time"
)

// FlowSummary describes one flow: its deployments and routes.
type FlowSummary struct {
	Project         string           `json:"project"`
	Flow            string           `json:"flow"`
	DeploymentCount int              `json:"deployment_count"`
	LatestVersion   int              `json:"latest_version"`
	DefaultVersion  *int             `json:"default_version"`
	Tags            map[string][]int `json:"tags"`
	// ExclusiveTags names the tags of Tags that are exclusive, sorted.
	ExclusiveTags []string `json:"exclusive_tags"`
	// Splits holds the weights of the split tags of Tags (docs/splits.md);
	// absent when none is split. A split default's DefaultVersion is its
	// heaviest version (Split.Heaviest).
	Splits    map[string]Split `json:"splits,omitempty"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

// Resolution is the answer to a resolve: which selector, which deployment.
type Resolution struct {
	Selector   Selector   `json:"selector"`
	Deployment Deployment `json:"deployment"`
	// Route is the tag as the resolve read it (by tag only): its Revision is
	// what If-Match takes to change the route only if it is unchanged since,
	// and with a split tag it shows the split the version was picked from.
	Route *Tag `json:"route,omitempty"`
}

// PageRequest asks for one page of a list. Token is opaque, from the previous page.
type PageRequest struct {
	Limit int
	Token string
}

// Default and maximum page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Normalize clamps the limit into range.
func (p *PageRequest) Normalize() error {
	switch {
	case p.Limit == 0:
		p.Limit = DefaultPageSize
	case p.Limit < 0 || p.Limit > MaxPageSize:
		return Errorf(CodeInvalidArgument, "limit %d is out of range: use 1 to %d", p.Limit, MaxPageSize)
	}
	return nil
}

// Page is one page of a list; NextToken is empty on the last page.
type Page[T any] struct {
	Items     []T    `json:"items"`
	NextToken string `json:"next_token,omitempty"`
}

func itoa(i int) string { return strconv.Itoa(i) }

// FlowNotFound is the not_found of a flow without deployments.
func FlowNotFound(flow string) *Error {
	return Errorf(CodeNotFound, "flow %q has no deployments; deploy it first", flow).
		WithDetails("flow", flow).WithReason(ReasonNoDeployments)
}

// VersionNotFound is the not_found of a version a flow does not have.
func VersionNotFound(flow string, version int) *Error {
	return Errorf(CodeNotFound, "flow %q has no version %d; list the flow's deployments to see its versions", flow, version).
		WithDetails("flow", flow).WithDetails("version", version).WithReason(ReasonVersionNotFound)
}

// TagNotFound is the not_found of a tag no version of the flow holds.
func TagNotFound(flow, tag string) *Error {
	return Errorf(CodeNotFound, "flow %q has no tag %q; the flow's summary lists its tags", flow, tag).
		WithDetails("flow", flow).WithDetails("tag", tag).WithReason(ReasonTagNotFound)
}

// InvalidPageToken refuses a next_token that no page of this list handed out.
func InvalidPageToken() *Error {
	return Errorf(CodeInvalidArgument, "next_token is not valid for this list; pass the next_token of the previous page unchanged, or omit it to start again")
}

// HoldsExclusiveTags refuses deleting a version that holds exclusive tags (I4).
func HoldsExclusiveTags(flow string, version int, held []string) *Error {
	return Errorf(CodeConflict, "version %d of flow %q holds exclusive tags %s; move them to another version first, then delete it", version, flow, strings.Join(held, ", ")).
		WithDetails("flow", flow).WithDetails("version", version).WithDetails("exclusive_tags", held).WithReason(ReasonHoldsExclusiveTags)
}
