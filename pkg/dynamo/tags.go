package dynamo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/registry"
)

// PutTag takes two round trips: tick allocates the change's route clock and
// checks everything one item can tell (flow, mode I5, If-Match, that the
// version was ever allocated, that the tag is not already there), so such a
// refusal writes nothing; one transaction then checks the version exists (I2)
// and writes the route and its history record (I8). The transaction is a
// compare-and-swap on the tag's revision as the tick returned it: the
// revision it reports is the one it committed, and an If-Match that went
// stale in between is still refused (412). See docs/data-model.md, "Tag requests".
func (s *Store) PutTag(ctx context.Context, req registry.TagRequest) (registry.Tag, error) {
	return s.putTag(ctx, req, nil)
}

// putTag is PutTag; expectClock, when set, requires the tag's last applied
// change to be that one (rollback uses it to move only what it looked at).
func (s *Store) putTag(ctx context.Context, req registry.TagRequest, expectClock *int64) (registry.Tag, error) {
	if err := req.Normalize(); err != nil {
		return registry.Tag{}, err
	}
	pk := flowPK(req.Project, req.Flow)
	cond := func(mode expression.ConditionBuilder) expression.ConditionBuilder {
		c := flowLive().And(mode).And(nameNext.GreaterThanEqual(expression.Value(req.Highest())))
		if !req.Exclusive {
			c = c.And(expression.AttributeNotExists(memberAttr(req.Tag, req.Version)))
		}
		if req.IfRevision != nil {
			c = c.And(revisionIs(req.Tag, *req.IfRevision))
		}
		if expectClock != nil {
			// Necessary, not sufficient (a later move may be there too): the
			// exact check is the route's, after the tick.
			// A tag removed when freed has no moves: its removal must be the
			// flow's last (freed), and the route's check decides.
			removed := expression.AttributeNotExists(tagAttr(req.Tag)).And(nameFreed.Equal(expression.Value(*expectClock)))
			c = c.And(expression.AttributeExists(moveAttr(req.Tag, strconv.FormatInt(*expectClock, 10))).Or(removed))
		}
		return c
	}
	h, failed, err := s.tickRoute(ctx, pk, expression.Set(nameClock, nameClock.Plus(expression.Value(1))), req.Tag, req.Exclusive, cond)
	if err != nil {
		return registry.Tag{}, fmt.Errorf("tag %s of %s: %w", req.Tag, req.Flow, err)
	}
	if failed {
		if err := refusal(h, req, expectClock); err != nil {
			return registry.Tag{}, err
		}
		return h.tag(req.Flow, req.Tag), nil // already routed there: nothing changes
	}
	clock := h.Clock
	action := registry.ActionMove
	switch {
	case req.Rollback:
		action = registry.ActionRollback
	case !req.Exclusive:
		action = registry.ActionAdd
	}
	now := s.now().UTC()
	var planned registry.Tag
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e, exists, route := h.route(req.Flow, req.Tag)
		if exists && e.C == clock {
			// This change committed (a re-sent transaction whose first copy applied).
			return h.tag(req.Flow, req.Tag), nil
		}
		err := replanRefusal(h, req, expectClock, clock)
		if err == nil && !h.hasDeployments() {
			err = registry.FlowNotFound(req.Flow) // deleted since the tick (or being deleted)
		}
		if err != nil {
			if attempt > 1 {
				// The head no longer shows it, but this change may have committed
				// (its answer lost, its re-sent copy refused) and been overtaken.
				if mine, cerr := s.committed(ctx, pk, req.Tag, clock); cerr != nil || mine {
					return planned, cerr
				}
			}
			return registry.Tag{}, err
		}
		if route.RoutedAs(req) {
			return h.tag(req.Flow, req.Tag), nil // another request routed it there meanwhile
		}
		next, err := route.Apply(req, clock, nil)
		if err != nil {
			return registry.Tag{}, err
		}
		// Every version the change routes to is stamped (a split stamps
		// each member): it must exist (I2), and a delete racing the change
		// sees its stamp change. The head update comes after them.
		t := &txn{table: s.table}
		targets := req.Targets()
		routed := expression.Set(nameRouted, expression.Value(clock))
		for _, v := range targets {
			if err := t.update(key(pk, versionSK(v)), routed, expression.AttributeExists(expression.Name(attrPK))); err != nil {
				return registry.Tag{}, err
			}
		}
		headAt := len(targets)
		hc := newHeadChange(now, h)
		result := next.AsTag()
		if req.Exclusive {
			if err := hc.moveExclusive(req.Tag, e, exists, next); err != nil {
				return registry.Tag{}, err
			}
		} else if err := hc.addShared(req.Tag, req.Version, e, exists, next); err != nil {
			return registry.Tag{}, err
		}
		hc.requireRevision(req.Tag, e, exists) // the compare-and-swap token
		if err := hc.capTags(h, req.Flow, s.maxLiveTags); err != nil {
			return registry.Tag{}, err
		}
		planned = result
		upd, cond := hc.build()
		if err := t.update(key(pk, skHead), upd, cond); err != nil {
			return registry.Tag{}, err
		}
		rec := historyItem{Tag: req.Tag, Action: action, Exclusive: req.Exclusive, V: req.Version, S: req.Split.Clone(), Clock: clock}
		if err := s.putHistory(t, req.Project, req.Flow, rec, req.By, now); err != nil {
			return registry.Tag{}, err
		}
		out, err := s.send(ctx, t)
		if err != nil {
			return registry.Tag{}, fmt.Errorf("tag %s of %s: %w", req.Tag, req.Flow, err)
		}
		switch {
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return registry.Tag{}, err
			}
		case out.failedAt(headAt):
			// Checked first: a re-sent copy of a committed transaction fails here and is recognised above.
			if h, err = s.headAfterFailure(ctx, pk, out.items[headAt]); err != nil {
				return registry.Tag{}, err
			}
		case out.any():
			gone := targets[0]
			for i, v := range targets {
				if out.failedAt(i) {
					gone = v
					break
				}
			}
			if req.Rollback {
				return registry.Tag{}, registry.RollbackToDeleted(req.Flow, req.Tag, gone)
			}
			return registry.Tag{}, registry.VersionNotFound(req.Flow, gone)
		default:
			return result, nil
		}
	}
	return registry.Tag{}, errContended
}

// refusal explains why a tag request's tick condition failed, from the head
// as it was; nil means the tag is already routed as asked (nothing to do).
func refusal(h head, req registry.TagRequest, expectClock *int64) error {
	_, exists, route := h.route(req.Flow, req.Tag)
	if !h.hasDeployments() {
		return registry.FlowNotFound(req.Flow)
	}
	if err := route.Check(req, expectClock); err != nil {
		return err
	}
	switch {
	case int64(req.Highest()) > h.Next:
		return registry.VersionNotFound(req.Flow, req.Highest())
	case exists && route.RoutedAs(req):
		return nil
	}
	return route.ChangedMeanwhile()
}

// replanRefusal checks a tag request against the head a failed transaction
// (or the tick) returned: what changed since the tick may refuse it, and a
// change with a later clock already applied supersedes an exclusive move.
func replanRefusal(h head, req registry.TagRequest, expectClock *int64, clock int64) error {
	_, _, route := h.route(req.Flow, req.Tag)
	if err := route.Check(req, expectClock); err != nil {
		return err
	}
	if route.Exclusive && req.Exclusive && route.Clock > clock {
		return route.Superseded()
	}
	return nil
}

// RemoveTag takes a tag off one version: tick (which refuses, writing
// nothing, when the version does not hold the tag), then one transaction
// that is a compare-and-swap on the tag's revision.
func (s *Store) RemoveTag(ctx context.Context, req registry.TagRequest) error {
	if err := req.Normalize(); err != nil {
		return err
	}
	if req.Tag == registry.DefaultTag {
		return registry.DefaultNotRemovable(req.Flow)
	}
	pk := flowPK(req.Project, req.Flow)
	// Whether an exclusive tag is on req.Version is decided by its newest
	// move, which a condition cannot find: that check is the route's, after the tick.
	holds := tagField(req.Tag, "x").Equal(expression.Value(true)).
		Or(expression.AttributeExists(memberAttr(req.Tag, req.Version)))
	cond := flowLive().And(holds)
	if req.IfRevision != nil {
		cond = cond.And(revisionIs(req.Tag, *req.IfRevision))
	}
	h, failed, err := s.tick(ctx, pk, expression.Set(nameClock, nameClock.Plus(expression.Value(1))), cond)
	if err != nil {
		return fmt.Errorf("untag %s of %s: %w", req.Tag, req.Flow, err)
	}
	clock := h.Clock
	if failed {
		clock = 0
	}
	now := s.now().UTC()
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e, exists, route := h.route(req.Flow, req.Tag)
		if attempt > 1 && !(exists && e.C == clock) {
			// A refusal below may be for a change that committed and was overtaken.
			if mine, err := s.committed(ctx, pk, req.Tag, clock); err != nil || mine {
				return err
			}
		}
		switch {
		case !h.hasDeployments():
			return registry.FlowNotFound(req.Flow)
		case clock != 0 && exists && e.C == clock:
			return nil // this change committed (a re-sent transaction whose first copy applied)
		case req.IfRevision != nil && route.Revision != *req.IfRevision:
			return route.StaleRevision(*req.IfRevision)
		case clock == 0 && route.Holds(req.Version):
			return route.ChangedMeanwhile() // the tick refused, yet the version holds the tag now
		}
		// Refuses a version that does not hold the tag, and an exclusive
		// change with a later clock already applied (superseded).
		next, err := route.Remove(req.Version, clock)
		if err != nil {
			return err
		}
		hc := newHeadChange(now, h)
		if next.Free() {
			hc.removeEntry(req.Tag, e, clock) // a compare-and-swap on the revision too
		} else {
			if err := hc.removeShared(req.Tag, req.Version, e, next); err != nil {
				return err
			}
			hc.requireRevision(req.Tag, e, exists)
		}
		t := &txn{table: s.table}
		upd, cond := hc.build()
		if err := t.update(key(pk, skHead), upd, cond); err != nil {
			return err
		}
		rec := historyItem{Tag: req.Tag, Action: registry.ActionRemove, Exclusive: e.X, V: req.Version, Clock: clock}
		if err := s.putHistory(t, req.Project, req.Flow, rec, req.By, now); err != nil {
			return err
		}
		out, err := s.send(ctx, t)
		if err != nil {
			return fmt.Errorf("untag %s of %s: %w", req.Tag, req.Flow, err)
		}
		switch {
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		case out.failedAt(0):
			if h, err = s.headAfterFailure(ctx, pk, out.items[0]); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return errContended
}

// RollbackTag moves an exclusive tag back to the target it had before its
// last change, as history records it: three round trips (history, tick, transaction).
func (s *Store) RollbackTag(ctx context.Context, project, flow, tag, by string) (registry.Tag, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Tag{}, err
	}
	if err := registry.ValidateTagName(tag); err != nil {
		return registry.Tag{}, err
	}
	recent, err := s.queryHistory(ctx, flowPK(project, flow), tag, 2)
	if err != nil {
		return registry.Tag{}, err
	}
	if len(recent) == 0 {
		return registry.Tag{}, registry.NoTagToRollBack(flow, tag)
	}
	var last *registry.RouteChange
	if len(recent) > 0 {
		var older *historyItem
		if len(recent) > 1 {
			older = &recent[1]
		}
		c := recent[0].change(older)
		last = &c
	}
	previous, split, err := registry.RollbackTarget(flow, tag, last)
	if err != nil {
		return registry.Tag{}, err
	}
	return s.putTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: previous, Split: split, Exclusive: true, By: by, Rollback: true}, &recent[0].Clock)
}

// committed reports whether the change with this route clock wrote its
// history record, i.e. committed. Asked only after a failed transaction.
func (s *Store) committed(ctx context.Context, pk, tag string, clock int64) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, historySK(tag, clock)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, engineError("read tag history", err)
	}
	return len(out.Item) > 0, nil
}

// flowLive is the tick condition that the flow has a committed deploy.
func flowLive() expression.ConditionBuilder {
	return expression.AttributeExists(expression.Name(attrPK)).And(nameCount.GreaterThan(expression.Value(0)))
}

// revisionIs requires a tag's revision; 0 means the tag has never been set.
func revisionIs(tag string, rev int64) expression.ConditionBuilder {
	if rev == 0 {
		return expression.AttributeNotExists(tagAttr(tag)).Or(tagField(tag, "rev").Equal(expression.Value(0)))
	}
	return tagField(tag, "rev").Equal(expression.Value(rev))
}
