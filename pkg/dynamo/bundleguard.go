package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

var _ registry.BundleGuard = (*Store)(nil)

// A bundle's guard is one item, `P#<project>#B#<digest> / GUARD`: the
// latest deploy lease's end and the live collection's end and token, as
// Unix milliseconds. Every change is one conditional UpdateItem on it, so a
// lease and a collection are ordered by the item (registry.BundleGuard).
const (
	skBundleGuard = "GUARD"
	attrLeaseEnd  = "lease_until"
	attrCollEnd   = "collect_until"
	attrCollToken = "collect_token"
)

var (
	nameLeaseEnd  = expression.Name(attrLeaseEnd)
	nameCollEnd   = expression.Name(attrCollEnd)
	nameCollToken = expression.Name(attrCollToken)
)

func bundleGuardKey(project, digest string) map[string]types.AttributeValue {
	return key("P#"+project+"#B#"+digest, skBundleGuard)
}

// LeaseBundle implements registry.BundleGuard. A lease never shortens a
// longer one, and it clears the token of an ended collection, so that
// collection's late EndBundleCollection cannot remove the lease.
func (s *Store) LeaseBundle(ctx context.Context, project, digest string, until time.Time) error {
	now := s.now().UnixMilli()
	k := bundleGuardKey(project, digest)
	noCollection := expression.AttributeNotExists(nameCollEnd).Or(nameCollEnd.LessThan(expression.Value(now)))
	longer := expression.AttributeNotExists(nameLeaseEnd).Or(nameLeaseEnd.LessThan(expression.Value(until.UnixMilli())))
	upd := expression.Set(nameLeaseEnd, expression.Value(until.UnixMilli())).Set(nameCollToken, expression.Value(""))
	if _, ok, err := s.updateIf(ctx, k, upd, noCollection.And(longer), types.ReturnValueNone); err != nil || ok {
		return engineErrorOrNil("lease bundle "+digest, err)
	}
	// Refused: a collection is live, or a lease as long is (which is enough).
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: k, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return engineError("read bundle guard "+digest, err)
	}
	if end, ok := out.Item[attrCollEnd].(*types.AttributeValueMemberN); ok && end.Value != "" {
		var ms int64
		if _, err := fmt.Sscan(end.Value, &ms); err == nil && ms >= now {
			return registry.BundleBeingCollected(digest)
		}
	}
	return nil
}

// StartBundleCollection implements registry.BundleGuard. A copy re-sent
// after its answer was lost finds its own token and is started too.
func (s *Store) StartBundleCollection(ctx context.Context, project, digest, token string, until time.Time) (bool, error) {
	now := expression.Value(s.now().UnixMilli())
	noLease := expression.AttributeNotExists(nameLeaseEnd).Or(nameLeaseEnd.LessThan(now))
	free := expression.AttributeNotExists(nameCollEnd).Or(nameCollEnd.LessThan(now)).Or(nameCollToken.Equal(expression.Value(token)))
	upd := expression.Set(nameCollEnd, expression.Value(until.UnixMilli())).Set(nameCollToken, expression.Value(token))
	_, ok, err := s.updateIf(ctx, bundleGuardKey(project, digest), upd, noLease.And(free), types.ReturnValueNone)
	return ok, engineErrorOrNil("start collecting bundle "+digest, err)
}

// EndBundleCollection implements registry.BundleGuard: the guard item goes
// when token's collection still holds it (no lease can be live then).
func (s *Store) EndBundleCollection(ctx context.Context, project, digest, token string) error {
	expr, err := expression.NewBuilder().WithCondition(nameCollToken.Equal(expression.Value(token))).Build()
	if err != nil {
		return fmt.Errorf("build bundle guard delete: %w", err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: bundleGuardKey(project, digest),
		ConditionExpression: expr.Condition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	return engineErrorOrNil("end collecting bundle "+digest, err)
}

func engineErrorOrNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return engineError(op, err)
}
