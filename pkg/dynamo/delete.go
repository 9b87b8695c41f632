package dynamo

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// DeleteDeployment deletes a version that holds no exclusive tag (I4); the
// shared tags it holds leave with it in the same transaction.
//
// The transaction conditions only on what decides this delete, so unrelated
// traffic on the flow (deploys, moves of other tags) never makes it retry:
//
//   - the version's `routed` stamp is the one read: a tag request that routed
//     a tag to this version since the read (it stamps the version in its own
//     transaction) makes the delete look again, so no tag lands on a deleted
//     version;
//
//   - each shared tag it removes is unchanged (removeShared's conditions);
//
//   - only when it writes history records (shared tags) does it allocate
//     route clock values, with a tick after the read (never contended, and
//     only once the read shows the delete is allowed).
//
//   - the head's live versions (whose highest is the flow's latest version)
//     lose this one; when it is the latest, a query finds the version below
//     it, which becomes the latest provided it still exists.
//
// A failed condition is re-planned at once from the item the cancellation
// returned; only engine conflicts back off. Two round trips uncontended,
// one more when the version holds shared tags, one more when it is the latest.
func (s *Store) DeleteDeployment(ctx context.Context, project, flow string, version int, by string) error {
	return s.deleteDeployment(ctx, project, flow, version, by, false)
}

// DeleteUnroutedDeployment implements registry.UnroutedDeleter: the delete
// above, refused also while shared tags route to the version. A shared tag
// added after the read stamps the version, so the transaction fails on
// `routed` and the re-read refuses.
func (s *Store) DeleteUnroutedDeployment(ctx context.Context, project, flow string, version int, by string) error {
	return s.deleteDeployment(ctx, project, flow, version, by, true)
}

func (s *Store) deleteDeployment(ctx context.Context, project, flow string, version int, by string, unroutedOnly bool) error {
	if err := registry.ValidateFlowName(flow); err != nil {
		return err
	}
	if err := registry.ValidateVersion(version); err != nil {
		return err
	}
	pk := flowPK(project, flow)
	token := requestToken()
	sent := false
	var firstClock, allocated int64
	h, v, err := s.getHeadAndVersion(ctx, pk, version, true)
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		switch {
		case err != nil:
			return fmt.Errorf("delete %s v%d: %w", flow, version, err)
		case v == nil && sent && h.Deleted == token:
			return nil // a re-sent copy of this delete, whose first copy committed
		case !h.hasDeployments():
			return registry.FlowNotFound(flow)
		case v == nil:
			return registry.VersionNotFound(flow, version)
		}
		if held := h.routes(flow).ExclusiveTagsOf(version); len(held) > 0 {
			return registry.HoldsExclusiveTags(flow, version, held)
		}
		shared := sharedTags(h, version)
		if unroutedOnly && len(shared) > 0 {
			return registry.VersionRouted(flow, version, shared)
		}
		if n := int64(len(shared)); n > 0 && n != allocated {
			// History records need clock values: allocate them with a tick
			// (never contended) rather than a compare-and-swap on the clock.
			th, _, err := s.tick(ctx, pk, expression.Set(nameClock, nameClock.Plus(expression.Value(n))), flowLive())
			if err != nil {
				return fmt.Errorf("delete %s v%d: %w", flow, version, err)
			}
			firstClock, allocated = th.Clock-n+1, n
		}
		// Plain assignments: a := here would shadow err, and the re-reads
		// below would then drop their errors instead of ending the loop above.
		below := 0
		if version == h.Latest() {
			if below, err = s.versionBelow(ctx, pk, version); err != nil {
				return fmt.Errorf("delete %s v%d: %w", flow, version, err)
			}
		}
		var t *txn
		if t, err = s.planDelete(project, flow, version, by, token, firstClock, h, v, below); err != nil {
			return err
		}
		var out txnOutcome
		if out, err = s.send(ctx, t); err != nil {
			return fmt.Errorf("delete %s v%d: %w", flow, version, err)
		}
		sent = true
		switch {
		case out.ok():
			return nil
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			h, v, err = s.getHeadAndVersion(ctx, pk, version, true)
		case out.failedAt(0):
			h, v, err = s.getHeadAndVersion(ctx, pk, version, true)
		default:
			h, err = s.headAfterFailure(ctx, pk, out.items[1])
		}
	}
	return errContended
}

// planDelete builds the delete transaction for the head and version as read:
// [0] delete the version, [1] update the head, [2…] history records, and
// when the version is the latest, a check that below (the version under it,
// the next latest) still exists.
func (s *Store) planDelete(project, flow string, version int, by, token string, firstClock int64, h head, v *versionItem, below int) (*txn, error) {
	shared := sharedTags(h, version)
	t := &txn{table: s.table}
	unrouted := expression.AttributeNotExists(nameRouted)
	if v.Routed != 0 {
		unrouted = nameRouted.Equal(expression.Value(v.Routed))
	}
	if err := t.delete(key(flowPK(project, flow), versionSK(version)), expression.AttributeExists(expression.Name(attrPK)).And(unrouted)); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	hc := newHeadChange(now, h)
	hc.upd = hc.upd.Set(nameCount, nameCount.Minus(expression.Value(1))).Set(nameDeleted, expression.Value(token))
	hc.require(expression.AttributeExists(expression.Name(attrPK)))
	hc.upd = hc.upd.Remove(liveAttr(version))
	if below != 0 {
		hc.upd = hc.upd.Set(liveAttr(below), expression.Value(true))
	} else {
		// A later version stays live (a delete of it makes this delete look again).
		hc.require(expression.AttributeExists(liveAttr(h.Latest())))
	}
	for i, name := range shared {
		e := h.Tags[name]
		next, err := e.route(flow, name).Remove(version, firstClock+int64(i))
		if err != nil {
			return nil, err
		}
		if err := hc.removeShared(name, version, e, next); err != nil {
			return nil, err
		}
	}
	upd, cond := hc.build()
	if err := t.update(key(flowPK(project, flow), skHead), upd, cond); err != nil {
		return nil, err
	}
	for i, name := range shared {
		rec := historyItem{Tag: name, Action: registry.ActionDelete, V: version, Clock: firstClock + int64(i)}
		if err := s.putHistory(t, project, flow, rec, by, now); err != nil {
			return nil, err
		}
	}
	if below != 0 {
		if err := t.check(key(flowPK(project, flow), versionSK(below)), expression.AttributeExists(expression.Name(attrPK))); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// versionBelow finds the highest existing version under version (0 for none).
func (s *Store) versionBelow(ctx context.Context, pk string, version int) (int, error) {
	return s.highestVersion(ctx, pk, key(pk, versionSK(version)))
}

// highestVersion finds the highest existing version, below start's when
// start is set (0 for none).
func (s *Store) highestVersion(ctx context.Context, pk string, start map[string]types.AttributeValue) (int, error) {
	out, err := s.queryPrefix(ctx, pk, skVersionPrefix, 1, start, false)
	if err != nil || len(out.Items) == 0 {
		return 0, err
	}
	v, err := decodeVersion(out.Items[0])
	return v.Version, err
}

// sharedTags are the shared tags version holds, sorted.
func sharedTags(h head, version int) []string {
	var shared []string
	for name, e := range h.Tags {
		if !e.X && e.holds(version) {
			shared = append(shared, name)
		}
	}
	slices.Sort(shared)
	return shared
}
