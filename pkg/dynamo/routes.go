package dynamo

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/kitaru/deployments/pkg/registry"
)

// This file holds how a route change is written to the head item: one place
// for each kind of change, each adding its SET and its condition to a
// headChange that the caller puts into one transaction.

func tagAttr(tag string) expression.NameBuilder {
	return nameTags.AppendName(expression.NameNoDotSplit(tag))
}
func tagField(tag, field string) expression.NameBuilder {
	return tagAttr(tag).AppendName(expression.Name(field))
}
func memberAttr(tag string, version int) expression.NameBuilder {
	return tagField(tag, "vs").AppendName(expression.NameNoDotSplit(strconv.Itoa(version)))
}

// moveAttr is an exclusive tag's move at clock (key a decimal clock).
func moveAttr(tag, clock string) expression.NameBuilder {
	return tagField(tag, "m").AppendName(expression.NameNoDotSplit(clock))
}

var (
	nameNext    = expression.Name("next")
	nameClock   = expression.Name("clock")
	nameCount   = expression.Name("count")
	nameUpdated = expression.Name("updated_at")
	nameRoutes  = expression.Name("routes_rev")
	nameTick    = expression.Name("tick")
	nameLive    = expression.Name("live")
	nameTags    = expression.Name(tagsAttr)
	nameFreed   = expression.Name("freed")
	nameDeleted = expression.Name("deleted")
	nameGone    = expression.Name("gone")
	nameEpoch   = expression.Name("epoch")
	// nameRouted, on a version item, is the clock of the last tag request
	// that routed a tag to it; a delete requires it unchanged.
	nameRouted = expression.Name("routed")
)

// headChange accumulates the update and condition for the head item.
type headChange struct {
	upd  expression.UpdateBuilder
	cond expression.ConditionBuilder
	has  bool
	// freedSeen is the head's Freed as planned against, freedNew what it
	// becomes; guardFreed requires it unchanged (entries created or removed).
	freedSeen, freedNew int64
	guardFreed          bool
	// created lists the tags whose entries the change creates (capTags
	// bounds how many entries the head holds).
	created []string
}

// newHeadChange starts the head update of a route transaction. Every such
// transaction bumps routes_rev, so a reader can require that no route change
// committed since it looked (the clock only says none was allocated).
func newHeadChange(now time.Time, h head) headChange {
	return headChange{upd: expression.Set(nameUpdated, expression.Value(now)).
		Set(nameRoutes, expression.Plus(expression.IfNotExists(nameRoutes, expression.Value(0)), expression.Value(1))),
		freedSeen: h.Freed, freedNew: h.Freed}
}

// build is the head update and its condition, with the freed clock raised
// and checked when the change creates or removes entries.
func (c *headChange) build() (expression.UpdateBuilder, expression.ConditionBuilder) {
	if c.guardFreed {
		if c.freedSeen == 0 {
			c.require(expression.AttributeNotExists(nameFreed))
		} else {
			c.require(nameFreed.Equal(expression.Value(c.freedSeen)))
		}
		if c.freedNew > c.freedSeen {
			c.upd = c.upd.Set(nameFreed, expression.Value(c.freedNew))
		}
	}
	return c.upd, c.condition()
}

// removeEntry removes the entry of a tag a change freed at clock, as a
// compare-and-swap on its revision, and raises the freed clock to clock:
// the head keeps no entry for a tag no version holds, so it stays bounded
// by the tags routed now (registry.MaxLiveTags), not by every tag ever used.
func (c *headChange) removeEntry(tag string, observed tagEntry, clock int64) {
	c.upd = c.upd.Remove(tagAttr(tag))
	c.require(tagField(tag, "rev").Equal(expression.Value(observed.Rev)))
	c.freedNew = max(c.freedNew, clock)
	c.guardFreed = true
}

func (c *headChange) require(cond expression.ConditionBuilder) {
	if !c.has {
		c.cond, c.has = cond, true
		return
	}
	c.cond = c.cond.And(cond)
}

// condition is the head's condition; every route transaction also requires
// that no flow delete is under way (DeleteFlow), so none commits into a
// flow being deleted, and that the head is in this build's layout (a head
// of an earlier build is converted first: headAfterFailure).
func (c *headChange) condition() expression.ConditionBuilder {
	always := expression.AttributeNotExists(nameGone).And(layoutIsCurrent())
	if !c.has {
		return expression.AttributeExists(expression.Name(attrPK)).And(always)
	}
	return c.cond.And(always)
}

// capTags keeps a flow's tag entries at most limit, exactly under
// concurrency: a change that creates entries is refused (too_many_tags)
// when the head as planned would then hold more than limit, and its head
// update requires size(tags) <= limit - created, so concurrent creations of
// different tags cannot all commit. Plan and condition count the same thing
// (entries), so a failed condition re-plans into the refusal, never a loop.
//
// Entries are the routed tags plus, only before the flow's first deploy
// commits, the free `default` placeholder (that deploy routes it): a free
// entry is removed when a change frees it, and the tick seeds nothing else.
// So on a flow with deployments the cap counts routed tags, as SQLite does.
func (c *headChange) capTags(h head, flow string, limit int) error {
	if len(c.created) == 0 {
		return nil
	}
	tag := c.created[len(c.created)-1]
	free := registry.Route{Flow: flow, Tag: tag, Exclusive: true}
	if err := registry.CheckTagCapacity(free, len(h.Tags)+len(c.created)-1, limit); err != nil {
		return err
	}
	c.require(nameTags.Size().LessThanEqual(expression.Value(limit - len(c.created))))
	return nil
}

// replaceEntry writes a whole tag entry, provided the entry is still the one
// observed (absent, or at revision e.Rev).
func (c *headChange) replaceEntry(tag string, observed tagEntry, exists bool, next tagEntry) error {
	av, err := attributevalue.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode route of tag %q: %w", tag, err)
	}
	c.upd = c.upd.Set(tagAttr(tag), expression.Value(av))
	if exists {
		c.require(tagField(tag, "rev").Equal(expression.Value(observed.Rev)))
	} else {
		// Its first revision comes from the freed clock as planned.
		c.require(expression.AttributeNotExists(tagAttr(tag)))
		c.guardFreed = true
		c.created = append(c.created, tag)
	}
	return nil
}

// moveExclusive writes next, the route registry.Route.Move returned for the
// entry e as observed, replacing the whole entry: a compare-and-swap on the
// entry's revision (tag requests, and the first deploy's `default`).
func (c *headChange) moveExclusive(tag string, e tagEntry, exists bool, next registry.Route) error {
	return c.replaceEntry(tag, e, exists, entryOf(next))
}

// maxPrune bounds how many lower keys one change removes from a map,
// keeping its update expression small; the next change removes the rest.
const maxPrune = 32

// addMove adds a deploy's exclusive move (target version at clock) to the
// entry's moves without any condition on the route: the move with the
// highest clock is the route, whatever order the transactions commit in, so
// concurrent deploys never invalidate each other. It also removes the moves
// with lower clocks it saw (at most maxPrune): after it commits the route is
// this move or a later one, so they can never be the route again.
// The only condition is that the tag is still exclusive (I5).
func (c *headChange) addMove(tag string, e tagEntry, version int, clock int64) {
	c.upd = c.upd.Set(moveAttr(tag, strconv.FormatInt(clock, 10)), expression.Value(version)).
		Set(tagField(tag, "rev"), tagField(tag, "rev").Plus(expression.Value(1)))
	for _, k := range pruned(e.M, clock) {
		c.upd = c.upd.Remove(moveAttr(tag, k))
	}
	c.require(tagField(tag, "x").Equal(expression.Value(true)))
}

// pruned lists up to maxPrune keys of m below limit, lowest first. (A
// re-planned change may see keys above its own: those stay.)
func pruned[V any](m map[string]V, limit int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if atoi64(k) < limit {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Compare(atoi64(a), atoi64(b)) })
	return keys[:min(len(keys), maxPrune)]
}

func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// addLive records a deploy's version in the head's live versions and drops
// (at most maxPrune of) the lower ones the tick showed: the highest
// key stays the latest existing version whatever order deploys commit in.
func (c *headChange) addLive(h head, version int) {
	c.upd = c.upd.Set(liveAttr(version), expression.Value(true))
	for _, k := range pruned(h.Live, int64(version)) {
		c.upd = c.upd.Remove(nameLive.AppendName(expression.NameNoDotSplit(k)))
	}
}

func liveAttr(version int) expression.NameBuilder {
	return nameLive.AppendName(expression.NameNoDotSplit(strconv.Itoa(version)))
}

// requireRevision makes the change a compare-and-swap on the tag entry as
// observed: its revision unchanged (or the entry still absent). Tag requests
// use it, so the revision they report is the one they committed.
func (c *headChange) requireRevision(tag string, observed tagEntry, exists bool) {
	if exists {
		c.require(tagField(tag, "rev").Equal(expression.Value(observed.Rev)))
	} else {
		c.require(expression.AttributeNotExists(tagAttr(tag)))
	}
}

// addShared writes next, the route registry.Route.AddShared returned when
// adding version to the entry e as observed. Adding a member to a tag that
// has members is commutative and needs no revision check. A shared entry's c
// is the clock of its last change; nothing orders by it, it only lets a
// re-sent change recognise that it committed.
func (c *headChange) addShared(tag string, version int, e tagEntry, exists bool, next registry.Route) error {
	if exists && !e.X && len(e.VS) > 0 {
		c.upd = c.upd.Set(memberAttr(tag, version), expression.Value(true)).
			Set(tagField(tag, "c"), expression.Value(next.Clock)).
			Set(tagField(tag, "rev"), tagField(tag, "rev").Plus(expression.Value(1)))
		c.require(tagField(tag, "x").Equal(expression.Value(false)).And(expression.AttributeExists(tagField(tag, "vs"))))
		return nil
	}
	return c.replaceEntry(tag, e, exists, entryOf(next))
}

// removeShared writes next, the shared route e became without version
// (registry.Route.Remove). The last member goes by rewriting the entry: an
// empty map is never stored (minidyn garbles them).
func (c *headChange) removeShared(tag string, version int, e tagEntry, next registry.Route) error {
	if next.Free() {
		c.removeEntry(tag, e, next.Clock)
		return nil
	}
	c.upd = c.upd.Remove(memberAttr(tag, version)).
		Set(tagField(tag, "c"), expression.Value(next.Clock)).
		Set(tagField(tag, "rev"), tagField(tag, "rev").Plus(expression.Value(1)))
	// Another member must stay: two removals racing for the last two members
	// would otherwise both commit and leave an empty map.
	c.require(expression.AttributeExists(memberAttr(tag, version)).And(tagField(tag, "vs").Size().GreaterThan(expression.Value(1))))
	return nil
}

// modeAllows is the tick condition that a tag may take the given mode: it is
// absent or already in that mode, or it is shared and free (I5). A free
// exclusive tag may become shared too, but whether an exclusive route is free
// is decided by its newest move, which a condition cannot find: the tick then
// fails and is sent again with freeAndUnchanged instead.
func modeAllows(tag string, exclusive bool) expression.ConditionBuilder {
	return expression.AttributeNotExists(tagAttr(tag)).
		Or(tagField(tag, "x").Equal(expression.Value(exclusive))).
		Or(tagField(tag, "x").Equal(expression.Value(false)).And(expression.AttributeNotExists(tagField(tag, "vs"))))
}

// freeAndUnchanged is modeAllows for a shared request on a tag the failed
// tick showed free and exclusive: the tag must still be at that revision.
func freeAndUnchanged(tag string, h head, exclusive bool) (expression.ConditionBuilder, bool) {
	e, ok := h.Tags[tag]
	if !ok || exclusive || !e.X || !e.free() {
		return expression.ConditionBuilder{}, false
	}
	return tagField(tag, "rev").Equal(expression.Value(e.Rev)), true
}

// createFree is the tick's update that creates the head's tag map, on the
// flow's first tick, with a free exclusive entry for tag (always `default`,
// which the first committed deploy routes) so that the flow's first
// deploys can add moves to it. (An update may not name both the map and
// one of its entries, so a tag new to an existing flow is created by its
// change's transaction, as a compare-and-swap on its absence.)
func createFree(upd expression.UpdateBuilder, tag string) (expression.UpdateBuilder, error) {
	av, err := attributevalue.Marshal(map[string]tagEntry{tag: freeExclusive})
	if err != nil {
		return upd, fmt.Errorf("encode route of tag %q: %w", tag, err)
	}
	return upd.Set(nameTags, expression.IfNotExists(nameTags, expression.Value(av))), nil
}
