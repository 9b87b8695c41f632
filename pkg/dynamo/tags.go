package dynamo

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/kitaru/deployments/pkg/registry"
)

// PutTag takes two round trips: tick allocates the change's route clock and
// checks flow, mode (I5) and If-Match; one transaction checks the version
// exists (I2), writes the route and its history record (I8).
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
	cond := expression.AttributeExists(expression.Name(attrPK)).And(modeAllows(req.Tag, req.Exclusive))
	if req.IfRevision != nil {
		cond = cond.And(revisionIs(req.Tag, *req.IfRevision))
	}
	if expectClock != nil {
		cond = cond.And(tagField(req.Tag, "c").Equal(expression.Value(*expectClock)))
	}
	h, clock, err := s.tickRoute(ctx, pk, req.Flow, req.Tag, req.Exclusive, req.IfRevision, cond)
	if err != nil {
		if expectClock != nil && registry.CodeOf(err) == registry.CodePreconditionFailed {
			return registry.Tag{}, movedDuringRollback(req.Flow, req.Tag)
		}
		return registry.Tag{}, err
	}
	if expectClock != nil && h.Tags[req.Tag].C != *expectClock {
		return registry.Tag{}, movedDuringRollback(req.Flow, req.Tag)
	}
	action := registry.ActionMove
	switch {
	case req.Rollback:
		action = registry.ActionRollback
	case !req.Exclusive:
		action = registry.ActionAdd
	}
	now := s.now().UTC()
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e, exists := h.Tags[req.Tag]
		if exists && e.X == req.Exclusive && e.holds(req.Version) {
			return h.tag(req.Flow, req.Tag), nil // already routed there: nothing changes
		}
		t := &txn{table: s.table}
		if err := t.check(key(pk, versionSK(req.Version)), expression.AttributeExists(expression.Name(attrPK))); err != nil {
			return registry.Tag{}, err
		}
		hc := newHeadChange(now)
		result := registry.Tag{Flow: req.Flow, Name: req.Tag, Exclusive: req.Exclusive, Revision: e.Rev + 1}
		switch {
		case req.Exclusive && exists && e.X && e.C >= clock:
			result = h.tag(req.Flow, req.Tag) // superseded by a later change; only recorded
		case req.Exclusive && exists && !e.X && !e.free():
			return registry.Tag{}, modeClash(req.Flow, req.Tag, e, true)
		case req.Exclusive:
			if err := hc.moveExclusive(req.Tag, req.Version, clock, e, exists, false); err != nil {
				return registry.Tag{}, err
			}
			result.Versions = []int{req.Version}
		default:
			if err := hc.addShared(req.Flow, req.Tag, req.Version, e, exists); err != nil {
				return registry.Tag{}, err
			}
			result.Versions = append(slices.Clone(e.versions()), req.Version)
			if e.X {
				result.Versions = []int{req.Version}
			}
			slices.Sort(result.Versions)
		}
		if err := t.update(key(pk, skHead), hc.upd, hc.condition()); err != nil {
			return registry.Tag{}, err
		}
		rec := historyItem{Tag: req.Tag, Action: action, Exclusive: req.Exclusive, V: req.Version, Clock: clock}
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
		case out.failedAt(0):
			if req.Rollback {
				return registry.Tag{}, registry.Errorf(registry.CodeConflict, "tag %q of flow %q would roll back to version %d, which was deleted; move the tag with `kitaru flow tag %s %s --version N --exclusive`", req.Tag, req.Flow, req.Version, req.Flow, req.Tag)
			}
			return registry.Tag{}, versionNotFound(req.Flow, req.Version)
		case out.failedAt(1):
			if h, err = s.headAfterFailure(ctx, pk, out.items[1]); err != nil {
				return registry.Tag{}, err
			}
		default:
			return result, nil
		}
	}
	return registry.Tag{}, errContended
}

// RemoveTag takes a tag off one version: tick, then one transaction.
func (s *Store) RemoveTag(ctx context.Context, req registry.TagRequest) error {
	if err := req.Normalize(); err != nil {
		return err
	}
	if req.Tag == registry.DefaultTag {
		return registry.Errorf(registry.CodeConflict, "the default tag cannot be removed, only moved: `kitaru flow tag %s default --version N`", req.Flow).
			WithDetails("tag", req.Tag)
	}
	pk := flowPK(req.Project, req.Flow)
	cond := expression.AttributeExists(expression.Name(attrPK))
	if req.IfRevision != nil {
		cond = cond.And(revisionIs(req.Tag, *req.IfRevision))
	}
	h, clock, err := s.tickRoute(ctx, pk, req.Flow, req.Tag, false, req.IfRevision, cond)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		e, exists := h.Tags[req.Tag]
		if !exists || !e.holds(req.Version) {
			return registry.Errorf(registry.CodeNotFound, "version %d of flow %q does not hold tag %q; see its tags with `kitaru flow show %s`", req.Version, req.Flow, req.Tag, req.Flow).
				WithDetails("tag", req.Tag).WithDetails("version", req.Version)
		}
		hc := newHeadChange(now)
		if e.X {
			hc.clearExclusive(req.Tag, req.Version, clock)
		} else if err := hc.removeShared(req.Tag, req.Version, e); err != nil {
			return err
		}
		t := &txn{table: s.table}
		if err := t.update(key(pk, skHead), hc.upd, hc.condition()); err != nil {
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
		return registry.Tag{}, registry.Errorf(registry.CodeNotFound, "flow %q has no tag %q to roll back; list its routes with `kitaru flow show %s`", flow, tag, flow).
			WithDetails("tag", tag)
	}
	last := recent[0]
	if !last.Exclusive {
		return registry.Tag{}, registry.Errorf(registry.CodeConflict, "tag %q of flow %q is shared; rollback moves exclusive tags only", tag, flow).WithDetails("tag", tag)
	}
	previous := 0
	if last.leaves() {
		previous = last.V
	} else if len(recent) > 1 && recent[1].Exclusive {
		previous = recent[1].target()
	}
	if previous == 0 {
		return registry.Tag{}, registry.Errorf(registry.CodeConflict, "tag %q of flow %q has no earlier version to roll back to; move it with `kitaru flow tag %s %s --version N --exclusive`", tag, flow, flow, tag).
			WithDetails("tag", tag)
	}
	return s.putTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: previous, Exclusive: true, By: by, Rollback: true}, &last.Clock)
}

// tickRoute allocates one route clock value for a tag change under cond and
// explains a failed condition: no flow, mode clash, or stale revision.
func (s *Store) tickRoute(ctx context.Context, pk, flow, tag string, exclusive bool, ifRevision *int64, cond expression.ConditionBuilder) (head, int64, error) {
	upd := expression.Set(nameClock, nameClock.Plus(expression.Value(1))).Set(nameUpdated, expression.Value(s.now().UTC()))
	h, failed, err := s.tick(ctx, pk, upd, cond)
	switch {
	case err != nil:
		return head{}, 0, fmt.Errorf("tag %s of %s: %w", tag, flow, err)
	case failed && !h.hasDeployments():
		return head{}, 0, flowNotFound(flow)
	case failed && ifRevision != nil && h.Tags[tag].Rev != *ifRevision:
		return head{}, 0, registry.Errorf(registry.CodePreconditionFailed, "tag %q of flow %q is at revision %d, not %d: it changed since you read it; read it again and retry", tag, flow, h.Tags[tag].Rev, *ifRevision).
			WithDetails("tag", tag).WithDetails("revision", h.Tags[tag].Rev)
	case failed:
		if e := h.Tags[tag]; !e.free() && e.X != exclusive {
			return head{}, 0, modeClash(flow, tag, e, exclusive)
		}
		return head{}, 0, registry.Errorf(registry.CodePreconditionFailed, "tag %q of flow %q changed while this request ran; read it again and retry", tag, flow)
	case !h.hasDeployments():
		return head{}, 0, flowNotFound(flow)
	}
	return h, h.Clock, nil
}

// revisionIs requires a tag's revision; 0 means the tag has never been set.
func revisionIs(tag string, rev int64) expression.ConditionBuilder {
	if rev == 0 {
		return expression.AttributeNotExists(tagAttr(tag)).Or(tagField(tag, "rev").Equal(expression.Value(0)))
	}
	return tagField(tag, "rev").Equal(expression.Value(rev))
}

func movedDuringRollback(flow, tag string) error {
	return registry.Errorf(registry.CodeConflict, "tag %q of flow %q moved while rolling back; check `kitaru flow history %s %s` and retry", tag, flow, flow, tag).
		WithDetails("tag", tag)
}
