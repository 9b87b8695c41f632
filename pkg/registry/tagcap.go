package registry

// MaxLiveTags caps the tags a flow may have routed to versions at once
// (default included). Every route of a flow lives in one DynamoDB item (the
// flow head, 400 KB at most); docs/data-model.md, "How many tags a flow
// holds", has the arithmetic behind the number. Both stores enforce it, so
// a flow behaves the same on every backend.
const MaxLiveTags = 1000

// CheckTagCapacity refuses a change that would route tag r, free now, while
// the flow already has live tags routed and limit is reached (conflict,
// reason too_many_tags). Stores pass MaxLiveTags (tests may pass less). A
// change to a tag that already routes somewhere never adds one, so it is
// never refused here.
func CheckTagCapacity(r Route, live, limit int) error {
	if !r.Free() || live < limit {
		return nil
	}
	return Errorf(CodeConflict, "flow %q already routes %d tags, the most a flow may hold; remove a tag it no longer needs (its versions stay), then add %q again",
		r.Flow, live, r.Tag).
		WithDetails("flow", r.Flow).WithDetails("tag", r.Tag).WithDetails("limit", limit).WithReason(ReasonTooManyTags)
}
