package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// AbandonExecution reads the record, then deletes every item
// CreateExecution wrote for it in one transaction: two round trips. The
// record's delete is conditioned on `status = running`; each other item's
// on naming this execution (or naming none), so an Idempotency-Key another
// execution took over after its window is kept: that item is dropped from
// the plan and the rest sent again. Errors: conflict (it ended).
func (s *Store) AbandonExecution(ctx context.Context, project, execID string) error {
	cur, err := s.GetExecution(ctx, project, execID)
	if abandon, err := registry.CheckAbandon(cur, err); !abandon {
		return err
	}
	t, err := s.planAbandonExecution(cur)
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
			// The record ended or went since the read: say which.
			return s.AbandonExecution(ctx, project, execID)
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
// item moves to another key: [0] the record, under `status = running`,
// then its listing copy, the running index item and the idempotency item,
// each under `exec_id` naming cur or absent.
func (s *Store) planAbandonExecution(cur registry.Execution) (*txn, error) {
	created, err := s.planCreateExecution(cur, cur.StartedAt)
	if err != nil {
		return nil, err
	}
	running := expression.Name("status").Equal(expression.Value(registry.StatusRunning))
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
