package dynamo

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/kitaru/deployments/pkg/registry"
)

// maxAttempts bounds how often one public method re-plans a transaction after
// a condition failure or a transaction conflict.
const maxAttempts = 12

// txn collects the items of one TransactWriteItems call. Helpers append;
// the public method sends.
type txn struct {
	table string
	items []types.TransactWriteItem
}

func (t *txn) put(item map[string]types.AttributeValue, cond *expression.ConditionBuilder) error {
	p := &types.Put{TableName: aws.String(t.table), Item: item}
	if cond != nil {
		expr, err := expression.NewBuilder().WithCondition(*cond).Build()
		if err != nil {
			return fmt.Errorf("build put condition: %w", err)
		}
		p.ConditionExpression, p.ExpressionAttributeNames, p.ExpressionAttributeValues = expr.Condition(), expr.Names(), expr.Values()
	}
	t.items = append(t.items, types.TransactWriteItem{Put: p})
	return nil
}

func (t *txn) update(k map[string]types.AttributeValue, upd expression.UpdateBuilder, cond expression.ConditionBuilder) error {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("build update: %w", err)
	}
	t.items = append(t.items, types.TransactWriteItem{Update: &types.Update{
		TableName: aws.String(t.table), Key: k,
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}})
	return nil
}

func (t *txn) delete(k map[string]types.AttributeValue, cond expression.ConditionBuilder) error {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("build delete condition: %w", err)
	}
	t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{
		TableName: aws.String(t.table), Key: k, ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}})
	return nil
}

// check requires cond of the item k without writing it.
func (t *txn) check(k map[string]types.AttributeValue, cond expression.ConditionBuilder) error {
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return fmt.Errorf("build condition check: %w", err)
	}
	t.items = append(t.items, types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String(t.table), Key: k, ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	}})
	return nil
}

// txnOutcome says how a transaction ended.
type txnOutcome struct {
	// failed[i] is true when item i's condition failed.
	failed []bool
	// items[i] is item i's current value when its condition failed and the engine returned it.
	items []map[string]types.AttributeValue
	// conflict is true when the engine cancelled for a concurrent transaction; retry as is.
	conflict bool
}

// ok reports a committed transaction.
func (o txnOutcome) ok() bool { return !o.conflict && !o.any() }

// failedAt reports whether item i's condition failed.
func (o txnOutcome) failedAt(i int) bool { return i < len(o.failed) && o.failed[i] }

func (o txnOutcome) any() bool {
	for _, f := range o.failed {
		if f {
			return true
		}
	}
	return false
}

// send commits t. A cancelled transaction is not an error: the outcome says
// which conditions failed so the caller can re-plan. ClientRequestToken makes
// the SDK's own retries of one attempt idempotent.
func (s *Store) send(ctx context.Context, t *txn) (txnOutcome, error) {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:      t.items,
		ClientRequestToken: aws.String(requestToken()),
	})
	var cancelled *types.TransactionCanceledException
	switch {
	case err == nil:
		return txnOutcome{}, nil
	case errors.As(err, &cancelled):
		out := txnOutcome{failed: make([]bool, len(t.items)), items: make([]map[string]types.AttributeValue, len(t.items))}
		for i, r := range cancelled.CancellationReasons {
			if i >= len(t.items) {
				break
			}
			switch aws.ToString(r.Code) {
			case "ConditionalCheckFailed":
				out.failed[i], out.items[i] = true, r.Item
			case "TransactionConflict":
				out.conflict = true
			case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
				return out, engineError("transact write", &throttledError{cancelled})
			}
		}
		if !out.any() && !out.conflict {
			return out, fmt.Errorf("transaction cancelled: %w", err)
		}
		return out, nil
	case isConflict(err):
		return txnOutcome{conflict: true}, nil
	case isStaleDocumentPath(err):
		// A nested path of the head's update names a tag entry (or the
		// tags map) that a concurrent change removed: a freed tag, or a
		// flow delete's fresh head. DynamoDB refuses such an update before
		// it evaluates any condition; it means what a failed condition on
		// the head means, so the caller reads the head again and re-plans.
		out := txnOutcome{failed: make([]bool, len(t.items)), items: make([]map[string]types.AttributeValue, len(t.items))}
		for i, item := range t.items {
			out.failed[i] = isHeadUpdate(item)
		}
		if !out.any() {
			return out, engineError("transact write", err)
		}
		return out, nil
	default:
		return txnOutcome{}, engineError("transact write", err)
	}
}

// isStaleDocumentPath reports DynamoDB's refusal of an update expression
// whose document path does not exist in the item.
func isStaleDocumentPath(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "ValidationException" &&
		strings.Contains(ae.ErrorMessage(), "document path provided in the update expression is invalid")
}

// isHeadUpdate reports whether item updates a flow head.
func isHeadUpdate(item types.TransactWriteItem) bool {
	if item.Update == nil {
		return false
	}
	sk, _ := item.Update.Key[attrSK].(*types.AttributeValueMemberS)
	return sk != nil && sk.Value == skHead
}

// throttledError is a transaction the engine cancelled to slow the caller down.
type throttledError struct{ err error }

func (e *throttledError) Error() string   { return e.err.Error() }
func (e *throttledError) Unwrap() error   { return e.err }
func (e *throttledError) Timeout() bool   { return true }
func (e *throttledError) Temporary() bool { return true }

func isConflict(err error) bool {
	var tc *types.TransactionConflictException
	var ip *types.TransactionInProgressException
	return errors.As(err, &tc) || errors.As(err, &ip)
}

func requestToken() string {
	b := make([]byte, 16)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// backoff sleeps a jittered, growing delay before attempt n (n ≥ 1).
func backoff(ctx context.Context, n int) error {
	d := time.Duration(1<<min(n, 7)) * time.Millisecond
	d = d/2 + rand.N(d)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

var errContended = registry.Errorf(registry.CodeUnavailable, "the flow is changing concurrently and the change could not be applied; retry in a moment")
