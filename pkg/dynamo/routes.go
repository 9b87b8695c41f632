package dynamo

import (
	"fmt"
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
	return expression.NameNoDotSplit(tagAttrPrefix + tag)
}
func tagField(tag, field string) expression.NameBuilder {
	return tagAttr(tag).AppendName(expression.Name(field))
}
func memberAttr(tag string, version int) expression.NameBuilder {
	return tagField(tag, "vs").AppendName(expression.NameNoDotSplit(strconv.Itoa(version)))
}

var (
	nameNext    = expression.Name("next")
	nameClock   = expression.Name("clock")
	nameCount   = expression.Name("count")
	nameUpdated = expression.Name("updated_at")
	nameRoutes  = expression.Name("routes_rev")
	nameTick    = expression.Name("tick")
	nameDeleted = expression.Name("deleted")
	// nameRouted, on a version item, is the clock of the last tag request
	// that routed a tag to it; a delete requires it unchanged.
	nameRouted = expression.Name("routed")
)

// headChange accumulates the update and condition for the head item.
type headChange struct {
	upd  expression.UpdateBuilder
	cond expression.ConditionBuilder
	has  bool
}

// newHeadChange starts the head update of a route transaction. Every such
// transaction bumps routes_rev, so a reader can require that no route change
// committed since it looked (the clock only says none was allocated).
func newHeadChange(now time.Time) headChange {
	return headChange{upd: expression.Set(nameUpdated, expression.Value(now)).
		Set(nameRoutes, expression.Plus(expression.IfNotExists(nameRoutes, expression.Value(0)), expression.Value(1)))}
}

func (c *headChange) require(cond expression.ConditionBuilder) {
	if !c.has {
		c.cond, c.has = cond, true
		return
	}
	c.cond = c.cond.And(cond)
}

func (c *headChange) condition() expression.ConditionBuilder {
	if !c.has {
		return expression.AttributeExists(expression.Name(attrPK))
	}
	return c.cond
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
		c.require(expression.AttributeNotExists(tagAttr(tag)))
	}
	return nil
}

// moveExclusive writes next, the route registry.Route.Move returned for the
// entry e as observed. A held exclusive entry is updated in place, guarded
// only by the clock, so concurrent deploys never conflict over the entry:
// the change with the highest clock wins, whatever order the transactions
// commit in. onlyIfFree attaches the tag only when no version holds it (the
// first-deploy `default`).
func (c *headChange) moveExclusive(tag string, e tagEntry, exists bool, next registry.Route, onlyIfFree bool) error {
	version, clock := next.Versions[0], next.Clock
	if exists && e.X {
		c.upd = c.upd.Set(tagField(tag, "v"), expression.Value(version)).
			Set(tagField(tag, "c"), expression.Value(clock)).
			Set(tagField(tag, "rev"), tagField(tag, "rev").Plus(expression.Value(1)))
		c.require(tagField(tag, "x").Equal(expression.Value(true)).And(tagField(tag, "c").LessThan(expression.Value(clock))))
		if onlyIfFree {
			c.require(tagField(tag, "v").Equal(expression.Value(0)))
		}
		return nil
	}
	return c.replaceEntry(tag, e, exists, entryOf(next))
}

// clearExclusive takes an exclusive tag off version (the entry goes free).
func (c *headChange) clearExclusive(tag string, version int, clock int64) {
	c.upd = c.upd.Set(tagField(tag, "v"), expression.Value(0)).
		Set(tagField(tag, "c"), expression.Value(clock)).
		Set(tagField(tag, "rev"), tagField(tag, "rev").Plus(expression.Value(1)))
	c.require(tagField(tag, "x").Equal(expression.Value(true)).
		And(tagField(tag, "v").Equal(expression.Value(version))).
		And(tagField(tag, "c").LessThan(expression.Value(clock))))
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
		return c.replaceEntry(tag, e, true, entryOf(next))
	}
	c.upd = c.upd.Remove(memberAttr(tag, version)).
		Set(tagField(tag, "c"), expression.Value(next.Clock)).
		Set(tagField(tag, "rev"), tagField(tag, "rev").Plus(expression.Value(1)))
	c.require(expression.AttributeExists(memberAttr(tag, version)))
	return nil
}

// modeAllows is the condition that a tag may take the given mode: it is
// absent, free, or already in that mode (I5).
func modeAllows(tag string, exclusive bool) expression.ConditionBuilder {
	return expression.AttributeNotExists(tagAttr(tag)).
		Or(tagField(tag, "x").Equal(expression.Value(exclusive))).
		Or(tagField(tag, "x").Equal(expression.Value(true)).And(tagField(tag, "v").Equal(expression.Value(0)))).
		Or(tagField(tag, "x").Equal(expression.Value(false)).And(expression.AttributeNotExists(tagField(tag, "vs"))))
}
