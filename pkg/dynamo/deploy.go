package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// Deploy takes two round trips: tick allocates the version and two route
// clock values (one for the routing tag, one in case this is the first
// deploy and `default` must be attached too) while checking the routing
// tag's mode; one transaction then writes the version, the routes and the
// history. Concurrent deploys never retry allocation, and their transactions
// do not invalidate each other: a deploy adds its move to the routing tag's
// moves, and the move with the highest clock is the route (a deploy
// overtaken by a later one is recorded in history and superseded, see
// docs/data-model.md). A transaction is re-planned only when a tag request
// changed the same entries in between (the mode, the first `default`).
func (s *Store) Deploy(ctx context.Context, req registry.DeployRequest) (registry.Deployment, error) {
	if err := req.Normalize(); err != nil {
		return registry.Deployment{}, err
	}
	now := s.now().UTC()
	pk := flowPK(req.Project, req.Flow)
	var err error
	upd := expression.Set(nameNext, expression.Plus(expression.IfNotExists(nameNext, expression.Value(0)), expression.Value(1))).
		Set(nameClock, expression.Plus(expression.IfNotExists(nameClock, expression.Value(0)), expression.Value(2))).
		Set(nameCount, expression.IfNotExists(nameCount, expression.Value(0))).
		Set(nameLive, expression.IfNotExists(nameLive, expression.Value(map[string]bool{"0": true}))).
		Set(expression.Name("created_at"), expression.IfNotExists(expression.Name("created_at"), expression.Value(now))).
		Set(nameUpdated, expression.Value(now)).
		Set(expression.Name("project"), expression.Value(req.Project)).
		Set(expression.Name("flow"), expression.Value(req.Flow))
	// The flow's first tick seeds the tags map with a free `default`, which
	// the first committed deploy routes; never the routing tag, whose free
	// entry would stay if this deploy never committed (capTags counts entries).
	if upd, err = createFree(upd, registry.DefaultTag); err != nil {
		return registry.Deployment{}, err
	}
	var h head
	var failed bool
	if req.Build {
		// A build routes no tag, so its tick checks no mode.
		h, failed, err = s.tick(ctx, pk, upd, expression.AttributeExists(nameNext).Or(expression.AttributeNotExists(nameNext)))
	} else {
		modeOnly := func(mode expression.ConditionBuilder) expression.ConditionBuilder { return mode }
		h, failed, err = s.tickRoute(ctx, pk, upd, req.Tag, req.Exclusive, modeOnly)
	}
	if err != nil {
		return registry.Deployment{}, fmt.Errorf("deploy %s: %w", req.Flow, err)
	}
	if failed {
		return registry.Deployment{}, h.Tags[req.Tag].route(req.Flow, req.Tag).ModeClash(req.Exclusive)
	}
	version, clock, epoch := int(h.Next), h.Clock, h.Epoch
	vi := versionItem{
		PK: pk, SK: versionSK(version), Project: req.Project, Flow: req.Flow, Version: version,
		Snapshot: registry.SnapshotName(req.Flow, version), Entrypoint: req.Entrypoint, Source: req.Source,
		Inputs: string(req.Inputs), InputSchema: string(req.InputSchema), Stack: req.Stack,
		Description: req.Description, Secrets: req.Secrets, CreatedAt: now, CreatedBy: req.By, Token: requestToken(),
	}
	item, err := attributevalue.MarshalMap(vi)
	if err != nil {
		return registry.Deployment{}, fmt.Errorf("encode deployment: %w", err)
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		t, tags, err := s.planDeploy(req, h, item, version, clock, now)
		if err != nil {
			return registry.Deployment{}, err
		}
		out, err := s.send(ctx, t)
		if err != nil {
			return registry.Deployment{}, fmt.Errorf("deploy %s v%d: %w", req.Flow, version, err)
		}
		switch {
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return registry.Deployment{}, err
			}
		case out.failedAt(0):
			// A re-sent copy of this transaction whose first copy committed
			// (engines that ignore ClientRequestToken) finds its own version.
			mine, err := s.versionHasToken(ctx, pk, version, vi.Token)
			if err != nil {
				return registry.Deployment{}, err
			}
			if !mine {
				return registry.Deployment{}, fmt.Errorf("deploy %s: version %d already exists, the version counter is behind", req.Flow, version)
			}
			d := vi.deployment(nil)
			d.Tags = tags
			return d, nil
		case out.failedAt(1):
			if h, err = s.headAfterFailure(ctx, pk, out.items[1]); err != nil {
				return registry.Deployment{}, err
			}
			if h.Gone != "" || h.Epoch != epoch {
				// A flow delete froze the head, or reset it since this
				// deploy's version was allocated: that number belongs to
				// the deleted flow.
				return registry.Deployment{}, registry.FlowBeingDeleted(req.Flow)
			}
		default:
			d := vi.deployment(nil)
			d.Tags = tags
			return d, nil
		}
	}
	return registry.Deployment{}, errContended
}

// versionHasToken reads a version and reports whether it carries token.
func (s *Store) versionHasToken(ctx context.Context, pk string, version int, token string) (bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, versionSK(version)), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return false, engineError("read version", err)
	}
	v, err := decodeVersion(out.Item)
	return err == nil && len(out.Item) > 0 && v.Token == token, err
}

// planDeploy builds the deploy transaction for the head as last seen:
// [0] put the version, [1] update the head, [2…] history records.
func (s *Store) planDeploy(req registry.DeployRequest, h head, item map[string]types.AttributeValue, version int, clock int64, now time.Time) (*txn, map[string]bool, error) {
	t := &txn{table: s.table}
	if err := t.put(item, ptr(expression.AttributeNotExists(expression.Name(attrPK)))); err != nil {
		return nil, nil, err
	}
	hc := newHeadChange(now, h)
	hc.upd = hc.upd.Set(nameCount, nameCount.Plus(expression.Value(1)))
	hc.addLive(h, version)
	hc.require(epochIs(h.Epoch))
	tags := map[string]bool{}
	var records []historyItem
	record := func(tag string, exclusive bool, clock int64) {
		records = append(records, historyItem{Tag: tag, Action: registry.ActionDeploy, Exclusive: exclusive, V: version, Clock: clock})
	}

	e, exists, route := h.route(req.Flow, req.Tag)
	switch {
	case req.Build:
		// A build attaches no routing tag; only `default`, below, on the
		// flow's first version.
	case req.Exclusive && exists && e.X:
		// Added without a condition on the route: if a change with a later
		// clock is already applied, this move is superseded (recorded, but
		// the route stays where the later change put it).
		hc.addMove(req.Tag, e, version, clock)
		tags[req.Tag] = true
		record(req.Tag, true, clock)
	case req.Exclusive:
		next, err := route.Move(version, clock)
		if err != nil && route.Free() {
			// The tag was freed and removed by a later change: this move
			// is superseded (recorded in history, the route left as is).
			record(req.Tag, true, clock)
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if err := hc.moveExclusive(req.Tag, e, exists, next); err != nil {
			return nil, nil, err
		}
		tags[req.Tag] = true
		record(req.Tag, true, clock)
	default:
		next, err := route.AddShared(version, clock)
		if err != nil {
			return nil, nil, err
		}
		if err := hc.addShared(req.Tag, version, e, exists, next); err != nil {
			return nil, nil, err
		}
		tags[req.Tag] = false
		record(req.Tag, false, clock)
	}
	if d, ok, droute := h.route(req.Flow, registry.DefaultTag); req.Tag != registry.DefaultTag && (!ok || d.free()) {
		// The flow's first committed deploy also gets `default` (I3, I6).
		next, err := droute.Move(version, clock-1)
		if err != nil {
			return nil, nil, err
		}
		if err := hc.moveExclusive(registry.DefaultTag, d, ok, next); err != nil {
			return nil, nil, err
		}
		tags[registry.DefaultTag] = true
		record(registry.DefaultTag, true, clock-1)
	}
	// Checked against the head the tick returned (and again on every
	// re-plan): a refused deploy has burnt its version number (never reused, I1).
	if err := hc.capTags(h, req.Flow, s.maxLiveTags); err != nil {
		return nil, nil, err
	}
	upd, cond := hc.build()
	if err := t.update(key(flowPK(req.Project, req.Flow), skHead), upd, cond); err != nil {
		return nil, nil, err
	}
	if h.Count == 0 {
		// The flow's first committed deploy lists it in the project's flow index.
		index := map[string]types.AttributeValue{attrPK: str(flowIndexPK(req.Project)), attrSK: str(skFlowPrefix + req.Flow), "flow": str(req.Flow)}
		if err := t.put(index, nil); err != nil {
			return nil, nil, err
		}
	}
	for _, r := range records {
		if err := s.putHistory(t, req.Project, req.Flow, r, req.By, now); err != nil {
			return nil, nil, err
		}
	}
	return t, tags, nil
}

// putHistory appends one history record to t (I8: same transaction as the change).
func (s *Store) putHistory(t *txn, project, flow string, r historyItem, by string, now time.Time) error {
	r.PK, r.SK, r.Flow, r.By, r.At = flowPK(project, flow), historySK(r.Tag, r.Clock), flow, by, now
	item, err := attributevalue.MarshalMap(r)
	if err != nil {
		return fmt.Errorf("encode history: %w", err)
	}
	return t.put(item, nil)
}

func ptr[T any](v T) *T { return &v }
