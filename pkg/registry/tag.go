package registry

import (
	"slices"
	"strings"
	"time"
)

// Tag is a route: a name pointing at one version (exclusive) or a set of versions (shared).
type Tag struct {
	Flow      string `json:"flow"`
	Name      string `json:"tag"`
	Exclusive bool   `json:"exclusive"`
	// Versions holds the one target of an exclusive tag, or the members of a shared tag, ascending.
	Versions []int `json:"versions"`
	// Revision counts the changes applied to this tag; send it as If-Match to move it only if unchanged.
	Revision int64 `json:"revision"`
	// Split holds the weights of a split exclusive tag (version → weight,
	// summing to 100); Versions are then its members. Absent unless split.
	Split Split `json:"split,omitempty"`
}

// TagRequest adds a tag to a version, moving it there when exclusive.
type TagRequest struct {
	Project string
	Flow    string
	Tag     string
	Version int
	// Split, instead of Version, points the exclusive tag at several
	// versions by weight (docs/splits.md).
	Split     Split
	Exclusive bool
	// IfRevision, when set, makes the change conditional on the tag's current revision (412 otherwise).
	IfRevision *int64
	By         string
	// Rollback marks the change as a rollback in the history.
	Rollback bool
}

// Normalize validates the request and coerces `default` to exclusive (I3).
func (r *TagRequest) Normalize() error {
	if err := ValidateProject(r.Project); err != nil {
		return err
	}
	if err := ValidateFlowName(r.Flow); err != nil {
		return err
	}
	if err := ValidateTagName(r.Tag); err != nil {
		return err
	}
	if r.Tag == DefaultTag {
		r.Exclusive = true
	}
	if r.Split != nil {
		return r.normalizeSplit()
	}
	return ValidateVersion(r.Version)
}

// normalizeSplit validates a split request: no version beside it, an
// exclusive tag, valid weights.
func (r *TagRequest) normalizeSplit() error {
	switch {
	case r.Version != 0:
		return Errorf(CodeInvalidArgument, "pass either version or split, not both: version points the tag at one version, split at several by weight").
			WithReason(ReasonInvalidSplit)
	case !r.Exclusive:
		return Errorf(CodeInvalidArgument, "a split routes an exclusive tag; tag %q was asked for as shared: set exclusive to true (or leave it out), or use version for a shared tag", r.Tag).
			WithDetails("tag", r.Tag).WithReason(ReasonSplitShared)
	}
	return ValidateSplit(r.Split)
}

// Highest is the highest version the request names (its version, or its
// split's highest member): a store checks it was ever allocated.
func (r TagRequest) Highest() int {
	if r.Split != nil {
		return slices.Max(r.Split.Versions())
	}
	return r.Version
}

// Targets lists the versions the request routes to, ascending.
func (r TagRequest) Targets() []int {
	if r.Split != nil {
		return r.Split.Versions()
	}
	return []int{r.Version}
}

// Action says what a route change did.
type Action string

// Route change actions recorded in tag history.
const (
	ActionDeploy   Action = "deploy"   // a deploy attached the tag to its new version
	ActionMove     Action = "move"     // an exclusive tag moved (or was first set) by a tag request
	ActionAdd      Action = "add"      // a shared tag was added to a version
	ActionRemove   Action = "remove"   // a tag was removed from a version
	ActionRollback Action = "rollback" // an exclusive tag moved back to its previous target
	ActionDelete   Action = "delete"   // a shared tag left with its deleted version
)

// RouteChange is one record of tag history (I8). From and To are versions; nil means "none".
type RouteChange struct {
	Flow      string `json:"flow"`
	Tag       string `json:"tag"`
	Action    Action `json:"action"`
	Exclusive bool   `json:"exclusive"`
	From      *int   `json:"from"`
	To        *int   `json:"to"`
	// FromSplit and ToSplit are the split the change left or made; From and
	// To are then nil.
	FromSplit Split     `json:"from_split,omitempty"`
	ToSplit   Split     `json:"to_split,omitempty"`
	Revision  int64     `json:"revision"` // the flow's route clock at the change; orders history
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// Routes is the current routing table of one flow: tag name → Tag.
type Routes map[string]Tag

// TagsOf returns the tags a version holds, name → exclusive.
func (r Routes) TagsOf(version int) map[string]bool {
	tags := map[string]bool{}
	for name, t := range r {
		if slices.Contains(t.Versions, version) {
			tags[name] = t.Exclusive
		}
	}
	return tags
}

// ExclusiveTagsOf returns the sorted exclusive tags a version holds (they block its deletion, I4).
func (r Routes) ExclusiveTagsOf(version int) []string {
	var names []string
	for name, exclusive := range r.TagsOf(version) {
		if exclusive {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// Selector picks a deployment: a version xor a tag; neither means the `default` tag.
type Selector struct {
	Version int    `json:"version,omitempty"`
	Tag     string `json:"tag,omitempty"`
	// StickyKey makes the pick of a split tag stable: the same key picks the
	// same version while the split is unchanged. Without it the pick is
	// random by weight. Not recorded with executions.
	StickyKey string `json:"sticky_key,omitempty"`
}

// MaxStickyKeyBytes bounds a sticky key, as an Idempotency-Key is bounded.
const MaxStickyKeyBytes = 255

// Normalize validates the selector and fills in the implicit `default` tag.
func (s *Selector) Normalize() error {
	switch {
	case s.Version != 0 && s.Tag != "":
		return Errorf(CodeInvalidArgument, "pass either a tag or a version, not both")
	case len(s.StickyKey) > MaxStickyKeyBytes:
		return Errorf(CodeInvalidArgument, "sticky_key is %d bytes, more than %d: send a shorter key (a user id, say)", len(s.StickyKey), MaxStickyKeyBytes)
	case s.Version != 0:
		return ValidateVersion(s.Version)
	case s.Tag == "":
		s.Tag = DefaultTag
	}
	return ValidateTagName(s.Tag)
}

func (s Selector) String() string {
	if s.Version != 0 {
		return "version " + itoa(s.Version)
	}
	return "tag " + s.Tag
}

// Resolve picks the version a selector names from a flow's routes. flowExists
// tells "no deployments at all" apart from "no such route". A split tag picks
// one member by weight (the sticky key's bucket, or a random one).
func (r Routes) Resolve(flow string, sel Selector, hasDeployments bool) (int, error) {
	if !hasDeployments {
		return 0, FlowNotFound(flow)
	}
	if sel.Version != 0 {
		return sel.Version, nil
	}
	t, ok := r[sel.Tag]
	switch {
	case (!ok || len(t.Versions) == 0) && sel.Tag == DefaultTag:
		return 0, Errorf(CodeNotFound, "flow %q has deployments but none is routed as default; name a tag or a version, or move default to a version", flow).
			WithDetails("flow", flow).WithDetails("tag", sel.Tag).WithReason(ReasonNoDefault)
	case !ok || len(t.Versions) == 0:
		return 0, TagNotFound(flow, sel.Tag).WithDetails("tags", r.Names())
	case t.Split != nil:
		return t.Split.Pick(sel.pickBucket(flow)), nil
	case len(t.Versions) > 1:
		// Surface-neutral: each client names its own way to pick a version
		// (the CLI adds its version flag, keyed on ReasonAmbiguousTag).
		return 0, Errorf(CodeConflict, "shared tag %q of flow %q is on %s, so it names no single deployment; select one of them by version instead of by tag (version=N), or remove the tag from all but one version",
			sel.Tag, flow, VersionsPhrase(t.Versions)).
			WithDetails("flow", flow).WithDetails("tag", sel.Tag).WithDetails("versions", t.Versions).
			WithReason(ReasonAmbiguousTag)
	}
	return t.Versions[0], nil
}

// Names returns the routed tag names, sorted.
func (r Routes) Names() []string {
	names := make([]string, 0, len(r))
	for name, t := range r {
		if len(t.Versions) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// VersionsPhrase writes versions for messages: "version 1", "versions 1
// and 2", "versions 1, 2 and 3", or "no version".
func VersionsPhrase(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = itoa(v)
	}
	switch len(parts) {
	case 0:
		return "no version"
	case 1:
		return "version " + parts[0]
	}
	return "versions " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
