package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// maxBatchWrite is BatchWriteItem's limit of requests per call.
const maxBatchWrite = 25

// DeleteFlow removes a flow's versions, routes and history in three steps
// (docs/flow-delete.md):
//
//  1. Freeze: one conditional UpdateItem marks the head `gone`. Every route
//     transaction requires the head not gone (headChange.condition) and every
//     tick does too, so from this write on no deploy, tag change or version
//     delete commits into the flow: a deploy that allocated its version
//     before the freeze fails with flow_being_deleted (the number is burnt,
//     never reused). Without force, the freeze also requires routes_rev as
//     read, so the check of the exclusive tags holds for what is deleted.
//     Readers see no flow from here on.
//  2. Sweep: the versions (up to the frozen counter) and history records
//     (up to the frozen route clock) are deleted in batches. The bounds make
//     a sweep that runs late (a second, concurrent delete) harmless to a flow
//     deployed again after the first finished. Executions and idempotency
//     items in the partition stay: executions remain readable.
//  3. Reset: one transaction replaces the head with a fresh one that keeps
//     only the version counter and the route clock, under `gone = token`,
//     and takes the flow out of the project's flow index.
//
// A delete interrupted after step 1 leaves the flow frozen; the next
// DeleteFlow finds the mark and finishes it.
func (s *Store) DeleteFlow(ctx context.Context, project, flow string, force bool, by string) (registry.FlowDeletion, error) {
	res := registry.FlowDeletion{Project: project, Flow: flow, Forced: force, Tags: map[string][]int{}, Versions: []int{}}
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	pk := flowPK(project, flow)
	h, mine, err := s.freezeFlow(ctx, pk, flow, force)
	if err != nil {
		return res, fmt.Errorf("delete flow %s: %w", flow, err)
	}
	res.Tags = h.routes(flow).RemovedTags()
	res.NextVersion = int(h.Next) + 1
	if res.Versions, err = s.sweepFlow(ctx, pk, h); err != nil {
		return res, fmt.Errorf("delete flow %s: %w", flow, err)
	}
	if res.RouteRevision, err = s.resetHead(ctx, project, flow, h); err != nil {
		return res, fmt.Errorf("delete flow %s: %w", flow, err)
	}
	if !mine {
		// The flow was deleted at the other delete's freeze, before this one
		// looked: finishing its work is this request's only effect.
		return registry.FlowDeletion{}, registry.FlowNotFound(flow)
	}
	return res, nil
}

// interruptedAfter is how old a freeze must be before another delete
// finishes it: four times the longest timeout of a function that deletes
// (infra/stack.go), so the delete that froze it has certainly stopped.
const interruptedAfter = 2 * time.Minute

// freezeFlow marks the head gone and returns it as frozen, with mine=true.
// A head marked by another delete is refused while that delete may still
// run (flow_being_deleted); one marked longer ago was interrupted and is
// returned as it is, with mine=false, to be finished: that delete removed
// the flow.
func (s *Store) freezeFlow(ctx context.Context, pk, flow string, force bool) (frozen head, mine bool, err error) {
	// One token for every attempt: a freeze whose answer was lost (the SDK
	// re-sent it and the copy failed its condition) is recognised as ours.
	token := requestToken()
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		h, err := s.getHead(ctx, pk)
		switch {
		case err != nil:
			return head{}, false, err
		case h.Gone == token:
			return h, true, nil
		case h.Gone != "" && s.now().Sub(h.UpdatedAt) < interruptedAfter:
			// Its sweep may be running: a second sweep would take versions
			// out from under its report.
			return head{}, false, registry.FlowBeingDeleted(flow)
		case h.Gone != "":
			return h, false, nil
		case !h.hasDeployments():
			return head{}, false, registry.FlowNotFound(flow)
		}
		if blocking := h.routes(flow).BlockingTags(); len(blocking) > 0 && !force {
			return head{}, false, registry.FlowHasRoutes(flow, blocking)
		}
		cond := expression.AttributeNotExists(nameGone).And(nameCount.GreaterThan(expression.Value(0)))
		if !force {
			// The tag check above holds only for the routes it read.
			cond = cond.And(routesRevIs(h.RoutesRev))
		}
		upd := expression.Set(nameGone, expression.Value(token)).Set(nameUpdated, expression.Value(s.now().UTC()))
		expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
		if err != nil {
			return head{}, false, fmt.Errorf("build flow freeze: %w", err)
		}
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: key(pk, skHead),
			UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
			ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
			ReturnValues: types.ReturnValueAllNew,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			// A route change committed since the read: decide again on the new routes.
			if err := backoff(ctx, attempt); err != nil {
				return head{}, false, err
			}
			continue
		}
		if err != nil {
			return head{}, false, engineError("mark flow deleted", err)
		}
		frozen, err := decodeHead(out.Attributes)
		return frozen, true, err
	}
	return head{}, false, errContended
}

// epochIs requires the head's incarnation as a deploy saw it when it
// allocated its version ("" before any flow delete).
func epochIs(epoch string) expression.ConditionBuilder {
	if epoch == "" {
		return expression.AttributeNotExists(nameEpoch)
	}
	return nameEpoch.Equal(expression.Value(epoch))
}

// routesRevIs requires the head's routes_rev as read (0: never set).
func routesRevIs(rev int64) expression.ConditionBuilder {
	if rev == 0 {
		return expression.AttributeNotExists(nameRoutes).Or(nameRoutes.Equal(expression.Value(0)))
	}
	return nameRoutes.Equal(expression.Value(rev))
}

// sweepFlow deletes the frozen flow's versions and history records in
// batches and returns the versions it deleted. It deletes nothing allocated
// after the freeze (versions above h.Next, history above h.Clock).
func (s *Store) sweepFlow(ctx context.Context, pk string, h head) ([]int, error) {
	var versions []int
	var keys []map[string]types.AttributeValue
	err := s.queryKeys(ctx, pk, skVersionPrefix, func(sk string) {
		n, err := strconv.Atoi(strings.TrimPrefix(sk, skVersionPrefix))
		if err == nil && int64(n) <= h.Next {
			versions = append(versions, n)
			keys = append(keys, key(pk, sk))
		}
	})
	if err != nil {
		return nil, err
	}
	err = s.queryKeys(ctx, pk, skHistoryPrefix, func(sk string) {
		i := strings.LastIndexByte(sk, '#')
		if c, err := strconv.ParseInt(sk[i+1:], 10, 64); err == nil && c <= h.Clock {
			keys = append(keys, key(pk, sk))
		}
	})
	if err != nil {
		return nil, err
	}
	for chunk := range slices.Chunk(keys, maxBatchWrite) {
		if err := s.batchDelete(ctx, chunk); err != nil {
			return nil, err
		}
	}
	slices.Sort(versions)
	return nonNil(versions), nil
}

// queryKeys calls fn with the sort key of every item of the partition under prefix.
func (s *Store) queryKeys(ctx context.Context, pk, prefix string, fn func(sk string)) error {
	kc := expression.Key(attrPK).Equal(expression.Value(pk)).And(expression.Key(attrSK).BeginsWith(prefix))
	expr, err := expression.NewBuilder().WithKeyCondition(kc).
		WithProjection(expression.NamesList(expression.Name(attrPK), expression.Name(attrSK))).Build()
	if err != nil {
		return fmt.Errorf("build query: %w", err)
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
		ProjectionExpression:     expr.Projection(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return engineError("query "+prefix, err)
		}
		for _, item := range out.Items {
			fn(stringAttr(item, attrSK))
		}
	}
	return nil
}

// batchDelete deletes up to maxBatchWrite items, retrying what the engine
// leaves unprocessed after a backoff.
func (s *Store) batchDelete(ctx context.Context, keys []map[string]types.AttributeValue) error {
	reqs := make([]types.WriteRequest, len(keys))
	for i, k := range keys {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}}
	}
	for attempt := 0; len(reqs) > 0; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}})
		if err != nil {
			return engineError("batch delete", err)
		}
		reqs = out.UnprocessedItems[s.table]
	}
	return nil
}

// resetHead replaces the frozen head with one that keeps only the version
// counter and the route clock (so numbers and history keys are never
// reused, and revisions go on above the old ones), under the freeze's token, and drops the flow from the project's
// flow index, and returns the reset head's route clock. A reset that finds
// another token (or none) lost to a concurrent delete of the same flow,
// which finished the same work from the same frozen head.
func (s *Store) resetHead(ctx context.Context, project, flow string, h head) (int64, error) {
	// The delete is a route change of its own (it removes every route), so
	// it takes the next clock value: revisions go on above any a client read
	// before the delete (each was at most the old clock). A tag the new head
	// lacks reads as free at revision freed, and default (which the first
	// deploy would otherwise seed at revision 0) is written free at that
	// clock and revision. Nothing else allocates a clock value meanwhile:
	// every tick requires the head not gone.
	now := h.Clock + 1
	clock := strconv.FormatInt(now, 10)
	fresh, err := attributevalue.MarshalMap(map[string]any{
		attrPK: flowPK(project, flow), attrSK: skHead, "project": project, "flow": flow,
		"next": h.Next, "clock": now, "count": 0, "updated_at": s.now().UTC(), "epoch": h.Gone,
		"freed": now, layoutAttr: headLayout, tagsAttr: map[string]tagEntry{registry.DefaultTag: {X: true, M: freeMoves(clock), Rev: now}},
	})
	if err != nil {
		return 0, fmt.Errorf("encode flow head: %w", err)
	}
	t := &txn{table: s.table}
	frozen := nameGone.Equal(expression.Value(h.Gone))
	if err := t.put(fresh, &frozen); err != nil {
		return 0, err
	}
	if err := t.delete(key(flowIndexPK(project), skFlowPrefix+flow), expression.AttributeExists(expression.Name(attrPK)).Or(expression.AttributeNotExists(expression.Name(attrPK)))); err != nil {
		return 0, err
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		out, err := s.send(ctx, t)
		switch {
		case err != nil:
			return 0, err
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return 0, err
			}
		default:
			// Committed, or the head no longer carries this freeze's token:
			// a concurrent delete of the flow reset it already.
			return now, nil
		}
	}
	return 0, errContended
}
