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

// A bundle's guard is one item, `P#<project>#B#<digest> / GUARD`: how many
// deploys hold a lease and when the latest lease ends, and the live
// collection's end and token (times as Unix milliseconds). Every change is
// one conditional UpdateItem on it, so a lease and a collection are ordered
// by the item (registry.BundleGuard).
const (
	skBundleGuard = "GUARD"
	attrLeases    = "leases"
	attrLeaseEnd  = "lease_until"
	attrCollEnd   = "collect_until"
	attrCollToken = "collect_token"
)

var (
	nameLeases    = expression.Name(attrLeases)
	nameLeaseEnd  = expression.Name(attrLeaseEnd)
	nameCollEnd   = expression.Name(attrCollEnd)
	nameCollToken = expression.Name(attrCollToken)
)

func bundleGuardKey(project, digest string) map[string]types.AttributeValue {
	return key("P#"+project+"#B#"+digest, skBundleGuard)
}

// LeaseBundle implements registry.BundleGuard. Deploys share a bundle's
// lease: each counts itself in and out, and the lease ends with the latest
// deadline (deploys have one request timeout, so a later lease ends later).
// It clears the token of an ended collection, so that collection's late
// EndBundleCollection cannot remove the lease.
func (s *Store) LeaseBundle(ctx context.Context, project, digest string, until time.Time) error {
	now := s.now().UnixMilli()
	noCollection := expression.AttributeNotExists(nameCollEnd).Or(nameCollEnd.LessThan(expression.Value(now)))
	upd := expression.Set(nameLeaseEnd, expression.Value(until.UnixMilli())).Set(nameCollToken, expression.Value("")).
		Add(nameLeases, expression.Value(1))
	_, ok, err := s.updateIf(ctx, bundleGuardKey(project, digest), upd, noCollection, types.ReturnValueNone)
	switch {
	case err != nil:
		return engineError("lease bundle "+digest, err)
	case !ok:
		return registry.BundleBeingCollected(digest)
	}
	return nil
}

// ReleaseBundle implements registry.BundleGuard. The count never goes
// below zero: a collection that found the lease ended restarted it.
func (s *Store) ReleaseBundle(ctx context.Context, project, digest string) error {
	upd := expression.Add(nameLeases, expression.Value(-1))
	_, _, err := s.updateIf(ctx, bundleGuardKey(project, digest), upd, nameLeases.GreaterThan(expression.Value(0)), types.ReturnValueNone)
	return engineErrorOrNil("release bundle "+digest, err)
}

// StartBundleCollection implements registry.BundleGuard. A copy re-sent
// after its answer was lost finds its own token and is started too.
func (s *Store) StartBundleCollection(ctx context.Context, project, digest, token string, until time.Time) (bool, error) {
	now := expression.Value(s.now().UnixMilli())
	noLease := expression.AttributeNotExists(nameLeases).Or(nameLeases.LessThanEqual(expression.Value(0))).Or(nameLeaseEnd.LessThan(now))
	free := expression.AttributeNotExists(nameCollEnd).Or(nameCollEnd.LessThan(now)).Or(nameCollToken.Equal(expression.Value(token)))
	// The count restarts: leases that ended unreleased (a deploy that died)
	// no longer hold the bundle.
	upd := expression.Set(nameCollEnd, expression.Value(until.UnixMilli())).Set(nameCollToken, expression.Value(token)).
		Set(nameLeases, expression.Value(0))
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
