package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// attrStartClaims is the record's latest start claim (ClaimStart); absent
// means 1, the invocation that recorded it.
const attrStartClaims = "start_claims"

// ClaimStart is one conditional UpdateItem of the record (`status =
// running`), plus a read to say why when it is refused.
func (s *Store) ClaimStart(ctx context.Context, project, execID string) (int, error) {
	if err := registry.ValidateExecID(execID); err != nil {
		return 0, err
	}
	claims := expression.Name(attrStartClaims)
	upd := expression.Set(claims, expression.Plus(expression.IfNotExists(claims, expression.Value(1)), expression.Value(1)))
	running := expression.Name("status").Equal(expression.Value(registry.StatusRunning))
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(running).Build()
	if err != nil {
		return 0, fmt.Errorf("build start claim: %w", err)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(execPK(project, execID), skExec),
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if _, refused := errors.AsType[*types.ConditionalCheckFailedException](err); refused {
		cur, err := s.GetExecution(ctx, project, execID)
		return 0, registry.CheckClaim(cur, err)
	}
	if err != nil {
		return 0, engineError(fmt.Sprintf("claim the start of execution %s", execID), err)
	}
	var got struct {
		Claims int `dynamodbav:"start_claims"`
	}
	if err := attributevalue.UnmarshalMap(out.Attributes, &got); err != nil || got.Claims < 2 {
		return 0, fmt.Errorf("claim the start of execution %s: the answer holds no claim (%v)", execID, err)
	}
	return got.Claims, nil
}

// AbandonExecution reads the record, then deletes every item
// CreateExecution wrote for it in one transaction: two round trips. The
// record's delete is conditioned on `status = running` and on claim being
// its latest start claim; each other item's on naming this execution (or
// naming none), so an Idempotency-Key another execution took over after
// its window is kept: that item is dropped from the plan and the rest sent
// again. Errors: conflict (it ended, or a later request claimed its start).
func (s *Store) AbandonExecution(ctx context.Context, project, execID string, claim int) error {
	x, err := s.getExecItem(ctx, project, execID)
	cur := x.execution()
	if abandon, err := registry.CheckAbandon(cur, x.startClaim(), claim, err); !abandon {
		return err
	}
	t, err := s.planAbandonExecution(cur, claim)
	if err != nil {
		return err
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		out, err := s.send(ctx, t)
		if err != nil {
			return engineError(fmt.Sprintf("abandon execution %s", execID), err)
		}
		switch {
		case out.failedAt(0):
			// The record ended, went or was claimed since the read: say which.
			return s.AbandonExecution(ctx, project, execID, claim)
		case out.any():
			t.items = keepUnfailed(t.items, out)
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return errExecContended
}

// planAbandonExecution turns the items the create transaction of cur puts
// into deletes of the same keys, so the two cannot drift apart when an
// item moves to another key: [0] the record, under `status = running` and
// claim being its latest start claim,
// then its listing copy, the running index item and the idempotency item,
// each under `exec_id` naming cur or absent.
func (s *Store) planAbandonExecution(cur registry.Execution, claim int) (*txn, error) {
	created, err := s.planCreateExecution(cur, cur.StartedAt)
	if err != nil {
		return nil, err
	}
	latest := expression.AttributeNotExists(expression.Name(attrStartClaims))
	if claim > 1 {
		latest = expression.Name(attrStartClaims).Equal(expression.Value(claim))
	}
	running := expression.Name("status").Equal(expression.Value(registry.StatusRunning)).And(latest)
	ours := expression.AttributeNotExists(expression.Name("exec_id")).Or(expression.Name("exec_id").Equal(expression.Value(cur.ExecID)))
	t := &txn{table: s.table}
	for i, it := range created.items {
		if it.Put == nil {
			return nil, fmt.Errorf("abandon execution %s: item %d of its create transaction is not a put", cur.ExecID, i)
		}
		cond := ours
		if i == 0 {
			cond = running
		}
		if err := t.delete(key(attrString(it.Put.Item[attrPK]), attrString(it.Put.Item[attrSK])), cond); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// keepUnfailed drops the items whose condition failed in out.
func keepUnfailed(items []types.TransactWriteItem, out txnOutcome) []types.TransactWriteItem {
	kept := items[:0:0]
	for i, it := range items {
		if !out.failedAt(i) {
			kept = append(kept, it)
		}
	}
	return kept
}

func attrString(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}
