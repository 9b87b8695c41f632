package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// tick is the first step of every route change: one UpdateItem on the flow
// head that allocates what the change needs (route clock values, and for a
// deploy the version number) under a condition that checks the request
// against the current routes. It never races: DynamoDB serialises updates of
// one item. On success it returns the head after the update; when the
// condition fails it returns failed=true and the head as it was.
//
// The tick is idempotent: it stamps the head with a token of its own and
// requires another token there. When the SDK re-sends a tick whose answer was
// lost (the first copy applied), the re-sent copy fails on that condition and
// the head it returns, still stamped with this token, is the tick's result.
func (s *Store) tick(ctx context.Context, pk string, upd expression.UpdateBuilder, cond expression.ConditionBuilder) (h head, failed bool, err error) {
	token := requestToken()
	// Layout: a new head is created in this build's layout; an existing one
	// must be in it already (an earlier build's head is converted, below).
	upd = upd.Set(nameTick, expression.Value(token)).Set(nameLayout, expression.Value(headLayout))
	cond = cond.And(expression.AttributeNotExists(nameTick).Or(nameTick.NotEqual(expression.Value(token)))).
		And(expression.AttributeNotExists(nameGone)).
		And(layoutIsCurrent().Or(expression.AttributeNotExists(expression.Name(attrPK))))
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return head{}, false, fmt.Errorf("build head update: %w", err)
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table), Key: key(pk, skHead),
			UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
			ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
			ReturnValues:                        types.ReturnValueAllNew,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			old, derr := decodeHead(ccf.Item)
			switch {
			case derr != nil:
				return head{}, false, derr
			case old.Tick != token && old.Gone != "":
				return head{}, false, registry.FlowBeingDeleted(old.Flow)
			case old.Tick != token && old.Exists && old.Layout != headLayout:
				// A head of an earlier build (or a later one: refused there):
				// convert it, then tick again on the converted head.
				if _, err := s.convertHead(ctx, pk, ccf.Item); err != nil {
					return head{}, false, err
				}
				continue
			}
			return old, old.Tick != token, nil
		}
		if err != nil {
			return head{}, false, engineError("update flow head", err)
		}
		h, err = decodeHead(out.Attributes)
		return h, false, err
	}
	return head{}, false, errContended
}

// tickRoute is tick for a change of one tag's route whose condition
// includes the tag's mode (modeAllows, passed to cond). When the failed tick
// shows that only the mode was undecided (a shared request on a free
// exclusive tag), it ticks again requiring the tag unchanged since.
func (s *Store) tickRoute(ctx context.Context, pk string, upd expression.UpdateBuilder, tag string, exclusive bool, cond func(mode expression.ConditionBuilder) expression.ConditionBuilder) (head, bool, error) {
	h, failed, err := s.tick(ctx, pk, upd, cond(modeAllows(tag, exclusive)))
	if err != nil || !failed {
		return h, failed, err
	}
	if mode, ok := freeAndUnchanged(tag, h, exclusive); ok {
		return s.tick(ctx, pk, upd, cond(mode))
	}
	return h, true, nil
}

// headAfterFailure returns the head a failed transaction saw, reading it
// again when the engine did not return it. A head of an earlier build's
// layout (which every head update refuses) is converted first, so the
// caller re-plans on a head its next transaction can update.
func (s *Store) headAfterFailure(ctx context.Context, pk string, item map[string]types.AttributeValue) (head, error) {
	if len(item) == 0 {
		var err error
		if item, err = s.getHeadItem(ctx, pk); err != nil {
			return head{}, err
		}
	}
	h, err := decodeHead(item)
	if err != nil || !h.Exists || h.Layout == headLayout {
		return h, err
	}
	return s.convertHead(ctx, pk, item)
}

// getHead reads the flow head with a consistent read; a missing head has Exists=false.
func (s *Store) getHead(ctx context.Context, pk string) (head, error) {
	item, err := s.getHeadItem(ctx, pk)
	if err != nil {
		return head{}, err
	}
	return decodeHead(item)
}

// getHeadItem reads the flow head item as stored (nil when there is none).
func (s *Store) getHeadItem(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, skHead), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, engineError("read flow head", err)
	}
	return out.Item, nil
}

// getHeadAndVersion reads the head and one version in one round trip. With
// snapshot the pair is one snapshot (TransactGetItems), which a delete needs:
// it decides on the pair, and a BatchGetItem may pair a head from before a
// tag move with the version the move stamped after it, so the delete would
// pass its conditions and leave the moved tag on a deleted version (I2).
// Reads that only answer (GetDeployment, resolve by version) take the batch
// read: half the read units, and no cancellation by concurrent writes.
func (s *Store) getHeadAndVersion(ctx context.Context, pk string, version int, snapshot bool) (head, *versionItem, error) {
	keys := []map[string]types.AttributeValue{key(pk, skHead), key(pk, versionSK(version))}
	read := s.batchGet
	if snapshot {
		read = s.transactGet
	}
	items, err := read(ctx, keys)
	if err != nil {
		return head{}, nil, fmt.Errorf("read flow head and version: %w", err)
	}
	var h head
	var v *versionItem
	for _, item := range items {
		sk, _ := item[attrSK].(*types.AttributeValueMemberS)
		if sk == nil {
			continue
		}
		if sk.Value == skHead {
			var err error
			if h, err = decodeHead(item); err != nil {
				return head{}, nil, err
			}
			continue
		}
		vi, err := decodeVersion(item)
		if err != nil {
			return head{}, nil, err
		}
		v = &vi
	}
	if h.Tags == nil {
		h.Tags = map[string]tagEntry{}
	}
	return h, v, nil
}

// hasDeployments tells a live flow from one that never had a deploy commit.
// A flow whose delete is under way has none.
func (h head) hasDeployments() bool { return h.Exists && h.Count > 0 && h.Gone == "" }

// transactGet reads items as one snapshot in one round trip; a read cancelled
// by a concurrent transaction on the same items is retried after a backoff.
func (s *Store) transactGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	gets := make([]types.TransactGetItem, len(keys))
	for i, k := range keys {
		gets[i] = types.TransactGetItem{Get: &types.Get{TableName: aws.String(s.table), Key: k}}
	}
	for attempt := 1; ; attempt++ {
		out, err := s.db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: gets})
		var cancelled *types.TransactionCanceledException
		if errors.As(err, &cancelled) && attempt < maxAttempts {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, engineError("transactional read", err)
		}
		items := make([]map[string]types.AttributeValue, 0, len(out.Responses))
		for _, r := range out.Responses {
			items = append(items, r.Item)
		}
		return items, nil
	}
}
