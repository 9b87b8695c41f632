package registry

import "slices"

// Route is one tag's route as a store keeps it: the mode, the versions that
// hold it, how many changes were applied to it (Revision) and the flow route
// clock of the last applied change (Clock). A route no version holds is free;
// a free route keeps its revision and clock, so a tag's revision never goes
// back and a late change can still be recognised as superseded.
//
// The transitions below are pure: each returns the route after the change, or
// a typed *Error saying why the change is refused, and never modifies its
// receiver. A store only translates the chosen transition into its own
// conditional writes (see docs/data-model.md, "Tag requests").
type Route struct {
	Flow string
	Tag  string
	// Exclusive is the mode (I5): one target, or a set of members.
	Exclusive bool
	// Versions holds the one target of an exclusive route or the members of
	// a shared one, ascending; nil when the route is free. A split route's
	// Versions are its members, so every "holds" check (delete guards I4,
	// flow delete's blocking tags, TagsOf) counts them.
	Versions []int
	// Split holds the weights of a split exclusive route; nil unless split.
	Split Split
	// Revision counts the changes applied to the route.
	Revision int64
	// Clock is the flow's route clock of the last applied change. Exclusive
	// moves are ordered by it: the change with the highest clock wins.
	Clock int64
}

// Free reports whether no version holds the route.
func (r Route) Free() bool { return len(r.Versions) == 0 }

// Holds reports whether version holds the route.
func (r Route) Holds(version int) bool { return slices.Contains(r.Versions, version) }

// Routed reports whether the route already sends version in the given mode,
// so that a request for exactly that is a no-op. A split route routes no
// single version: moving it to one of its members collapses it.
func (r Route) Routed(version int, exclusive bool) bool {
	return r.Exclusive == exclusive && r.Split == nil && r.Holds(version)
}

// RoutedAs reports whether the route already is what req asks for (a
// version in its mode, or exactly its split), so the request is a no-op.
func (r Route) RoutedAs(req TagRequest) bool {
	if req.Split != nil {
		return r.Exclusive && r.Split.Equal(req.Split)
	}
	return r.Routed(req.Version, req.Exclusive)
}

// AsTag reports the route as the API shows it (Versions never nil).
func (r Route) AsTag() Tag {
	vs := slices.Clone(r.Versions)
	if vs == nil {
		vs = []int{}
	}
	return Tag{Flow: r.Flow, Name: r.Tag, Exclusive: r.Exclusive, Versions: vs, Revision: r.Revision, Split: r.Split.Clone()}
}

// AllowsMode reports whether the route may take the given mode: it is free
// or already in that mode (I5).
func (r Route) AllowsMode(exclusive bool) bool { return r.Free() || r.Exclusive == exclusive }

// changed is r after one applied change at clock, holding versions (not
// split: a split is set by MoveSplit only, and any other change collapses it).
func (r Route) changed(exclusive bool, versions []int, clock int64) Route {
	return Route{Flow: r.Flow, Tag: r.Tag, Exclusive: exclusive, Versions: versions, Revision: r.Revision + 1, Clock: clock}
}

// Move points the route, exclusively, at version as of route clock clock.
// Refusals: conflict when the route is held shared (I5), conflict
// (superseded) when an exclusive change with a clock not below clock has
// already been applied. Moving to the version it already holds returns r
// unchanged (same revision).
func (r Route) Move(version int, clock int64) (Route, error) {
	switch {
	case r.Routed(version, true):
		return r, nil
	case r.Exclusive && r.Clock >= clock:
		return r, r.Superseded()
	case !r.AllowsMode(true):
		return r, r.ModeClash(true)
	}
	return r.changed(true, []int{version}, clock), nil
}

// MoveSplit points the route, exclusively, at the members of split by
// weight, as of route clock clock: one route change like Move, with Move's
// refusals (superseded, I5). Setting the split it already has returns r
// unchanged. The split must be valid (ValidateSplit).
func (r Route) MoveSplit(split Split, clock int64) (Route, error) {
	switch {
	case r.Exclusive && r.Split.Equal(split) && split != nil:
		return r, nil
	case r.Exclusive && r.Clock >= clock:
		return r, r.Superseded()
	case !r.AllowsMode(true):
		return r, r.ModeClash(true)
	}
	next := r.changed(true, split.Versions(), clock)
	next.Split = split.Clone()
	return next, nil
}

// AddShared adds version to the shared route as of route clock clock.
// Refusals: invalid_argument on `default` (always exclusive, I3), conflict
// when the route is held exclusive (I5). Adding a member it already has
// returns r unchanged.
func (r Route) AddShared(version int, clock int64) (Route, error) {
	switch {
	case r.Tag == DefaultTag:
		return r, Errorf(CodeInvalidArgument, "the default tag is always exclusive; move it to the version with exclusive set to true").
			WithDetails("flow", r.Flow).WithDetails("tag", r.Tag).WithReason(ReasonDefaultExclusive)
	case !r.AllowsMode(false):
		return r, r.ModeClash(false)
	case r.Routed(version, false):
		return r, nil
	}
	var members []int
	if !r.Exclusive {
		members = slices.Clone(r.Versions)
	}
	members = append(members, version)
	slices.Sort(members)
	return r.changed(false, members, clock), nil
}

// Remove takes version off the route as of route clock clock; the last
// version leaving makes it free (in the same mode). Refusals: conflict on
// `default` (only movable, I3), not_found when version does not hold it,
// conflict (superseded) when an exclusive change with a clock not below
// clock has already been applied.
func (r Route) Remove(version int, clock int64) (Route, error) {
	switch {
	case r.Tag == DefaultTag:
		return r, DefaultNotRemovable(r.Flow)
	case !r.Holds(version):
		return r, r.NotHeld(version)
	case r.Split != nil:
		return r, r.SplitNotRemovable(version)
	case r.Exclusive && r.Clock >= clock:
		return r, r.Superseded()
	}
	var rest []int
	for _, v := range r.Versions {
		if v != version {
			rest = append(rest, v)
		}
	}
	return r.changed(r.Exclusive, rest, clock), nil
}

// Rollback moves the exclusive route back to previous as of route clock
// clock, provided its last applied change is still the one at lastClock
// (the one the caller read from history). Refusals: conflict when it moved
// since, and Move's.
func (r Route) Rollback(previous int, clock, lastClock int64) (Route, error) {
	if r.Clock != lastClock {
		return r, r.MovedDuringRollback()
	}
	return r.Move(previous, clock)
}

// Check refuses a tag request the route no longer allows, before any
// transition: a stale If-Match (precondition_failed), a rollback whose route
// changed since (expectClock, conflict), or the other mode (conflict, I5).
func (r Route) Check(req TagRequest, expectClock *int64) error {
	switch {
	case req.IfRevision != nil && r.Revision != *req.IfRevision:
		return r.StaleRevision(*req.IfRevision)
	case expectClock != nil && r.Clock != *expectClock:
		return r.MovedDuringRollback()
	case !r.AllowsMode(req.Exclusive):
		return r.ModeClash(req.Exclusive)
	}
	return nil
}

// Apply runs the transition a tag request asks for (Move, MoveSplit or
// AddShared) after Check. lastClock is the rollback's expected clock, if any.
func (r Route) Apply(req TagRequest, clock int64, lastClock *int64) (Route, error) {
	if err := r.Check(req, lastClock); err != nil {
		return r, err
	}
	if req.Split != nil {
		return r.MoveSplit(req.Split, clock)
	}
	if req.Exclusive {
		return r.Move(req.Version, clock)
	}
	return r.AddShared(req.Version, clock)
}

// ModeClash is the I5 conflict: the route is held in the other mode.
func (r Route) ModeClash(wantExclusive bool) *Error {
	held, want := "shared", "exclusive"
	if r.Exclusive {
		held, want = "exclusive", "shared"
	}
	if wantExclusive == r.Exclusive {
		want = held
	}
	return Errorf(CodeConflict,
		"tag %q of flow %q is %s (on %s), so it cannot be added as %s; a tag is either exclusive or shared: remove it first or use another tag name",
		r.Tag, r.Flow, held, r.phrase(), want).
		WithDetails("tag", r.Tag).WithDetails("exclusive", r.Exclusive).WithDetails("versions", r.Versions)
}

// Superseded refuses a change whose route clock is older than a change
// already applied: applying it would put the route behind its own history.
func (r Route) Superseded() *Error {
	vs := r.Versions
	if vs == nil {
		vs = []int{}
	}
	return Errorf(CodeConflict, "tag %q of flow %q was changed by a later request while this one ran (it is now on %s at revision %d); nothing was changed: read the tag and send your change again if you still want it", r.Tag, r.Flow, r.phrase(), r.Revision).
		WithDetails("tag", r.Tag).WithDetails("revision", r.Revision).WithDetails("versions", vs)
}

// StaleRevision refuses an If-Match that names another revision than the route's.
func (r Route) StaleRevision(want int64) *Error {
	return Errorf(CodePreconditionFailed, "tag %q of flow %q is at revision %d, not %d: it changed since you read it; read it again and retry", r.Tag, r.Flow, r.Revision, want).
		WithDetails("tag", r.Tag).WithDetails("revision", r.Revision)
}

// MovedDuringRollback refuses a rollback whose route changed after the
// history it rolls back was read.
func (r Route) MovedDuringRollback() *Error {
	return Errorf(CodeConflict, "tag %q of flow %q moved while rolling back; read the tag's history to see the move, then retry if you still want the rollback", r.Tag, r.Flow).
		WithDetails("flow", r.Flow).WithDetails("tag", r.Tag).WithReason(ReasonMovedDuringRollback)
}

// ChangedMeanwhile refuses a request whose first look at the route (the
// store's allocation of its route clock) saw it change under the request.
func (r Route) ChangedMeanwhile() *Error {
	return Errorf(CodePreconditionFailed, "tag %q of flow %q changed while this request ran; read it again and retry", r.Tag, r.Flow)
}

// NotHeld refuses removing the route from a version that does not hold it.
func (r Route) NotHeld(version int) *Error {
	return Errorf(CodeNotFound, "version %d of flow %q does not hold tag %q; the flow's summary shows the versions that hold each tag", version, r.Flow, r.Tag).
		WithDetails("flow", r.Flow).WithDetails("tag", r.Tag).WithDetails("version", version).WithReason(ReasonTagNotHeld)
}

// DefaultNotRemovable refuses removing `default` (I3).
func DefaultNotRemovable(flow string) *Error {
	return Errorf(CodeConflict, "the default tag cannot be removed, only moved: set it on another version of flow %q instead (it is always exclusive)", flow).
		WithDetails("flow", flow).WithDetails("tag", DefaultTag).WithReason(ReasonDefaultNotRemovable)
}

// phrase names the versions the route is on, with weights when split.
func (r Route) phrase() string {
	if r.Split != nil {
		return r.Split.Phrase()
	}
	return VersionsPhrase(r.Versions)
}

// RollbackTarget is where a rollback moves tag back to, given the tag's
// newest change in history (nil when it has none): the version or the
// split its last change took it from (the split is nil unless split).
// Errors: not_found (no history), conflict (a shared tag, or nothing
// earlier to roll back to).
func RollbackTarget(flow, tag string, last *RouteChange) (int, Split, error) {
	switch {
	case last == nil:
		return 0, nil, NoTagToRollBack(flow, tag)
	case !last.Exclusive:
		return 0, nil, Errorf(CodeConflict, "tag %q of flow %q is shared; rollback moves exclusive tags only", tag, flow).WithDetails("tag", tag)
	case last.FromSplit != nil:
		return 0, last.FromSplit.Clone(), nil
	case last.From == nil:
		return 0, nil, Errorf(CodeConflict, "tag %q of flow %q has no earlier version to roll back to; move it to the version you want instead, with exclusive set to true", tag, flow).
			WithDetails("flow", flow).WithDetails("tag", tag).WithReason(ReasonNoEarlierVersion)
	}
	return *last.From, nil, nil
}

// RollbackToDeleted refuses a rollback whose earlier version was deleted.
func RollbackToDeleted(flow, tag string, version int) *Error {
	return Errorf(CodeConflict, "tag %q of flow %q would roll back to version %d, which was deleted; move the tag to another version instead, with exclusive set to true", tag, flow, version).
		WithDetails("flow", flow).WithDetails("tag", tag).WithDetails("version", version).WithReason(ReasonRollbackTargetDeleted)
}

// NoTagToRollBack is the not_found of a rollback of a tag without history.
func NoTagToRollBack(flow, tag string) *Error {
	return Errorf(CodeNotFound, "flow %q has no tag %q to roll back; the flow's summary lists its tags", flow, tag).
		WithDetails("flow", flow).WithDetails("tag", tag).WithReason(ReasonTagNotFound)
}
