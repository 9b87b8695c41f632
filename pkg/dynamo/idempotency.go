package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

var _ registry.IdempotencyStore = (*Store)(nil)

// Idempotency records (docs/idempotency.md): one item per (project,
// principal, key), in a partition of its own so that no caller's keys crowd
// one partition. The key is hashed into the partition key: any printable
// key fits, and the item names no key a client chose.
const (
	skIdempotencyRecord = "IDEM"
	idemInProgress      = "in_progress"
	idemCompleted       = "completed"
	// idemClaimAttempts bounds the claims tried when the record changes
	// between a failed claim and the read of what failed it.
	idemClaimAttempts = 4
)

func idempotencyPK(project, principal, key string) string {
	sum := sha256.Sum256([]byte(principal + "\x00" + key))
	return "P#" + project + "#IK#" + hex.EncodeToString(sum[:])
}

// idemItem is an idempotency record: claimed (in progress, leased to Token
// until LeaseUntil) or completed (the answer). ExpiresAt is the table's TTL.
type idemItem struct {
	PK          string            `dynamodbav:"PK"`
	SK          string            `dynamodbav:"SK"`
	State       string            `dynamodbav:"state"`
	Fingerprint string            `dynamodbav:"fingerprint"`
	Token       string            `dynamodbav:"token"`
	Principal   string            `dynamodbav:"principal"`
	LeaseUntil  int64             `dynamodbav:"lease_until"` // Unix milliseconds
	ExpiresAt   int64             `dynamodbav:"expires_at"`  // Unix seconds
	CreatedAt   time.Time         `dynamodbav:"created_at"`
	Status      int               `dynamodbav:"status,omitempty"`
	Body        string            `dynamodbav:"body,omitempty"`
	BodyGzip    []byte            `dynamodbav:"body_gzip,omitempty"`
	BodyDropped bool              `dynamodbav:"body_dropped,omitempty"`
	Headers     map[string]string `dynamodbav:"headers,omitempty"`
}

// record is the item as the domain's IdempotencyRecord.
func (rec idemItem) record() (registry.IdempotencyRecord, error) {
	body, err := registry.UnpackBody(rec.Body, rec.BodyGzip)
	return registry.IdempotencyRecord{
		Completed: rec.State == idemCompleted, Fingerprint: rec.Fingerprint, Token: rec.Token,
		LeaseUntil: time.UnixMilli(rec.LeaseUntil), BodyDropped: rec.BodyDropped,
		Response: registry.StoredResponse{Status: rec.Status, Body: body, Headers: rec.Headers, CreatedAt: rec.CreatedAt},
	}, err
}

var (
	nameIdemState = expression.Name("state")
	nameIdemToken = expression.Name("token")
)

// ClaimIdempotencyKey is one conditional PutItem when the key is free. When
// it is not, the record that failed the condition is returned with the
// failure by DynamoDB (one round trip in all) or, on engines that do not
// return it, read with a consistent GetItem (two).
func (s *Store) ClaimIdempotencyKey(ctx context.Context, c registry.IdempotencyClaim) (registry.StoredResponse, bool, error) {
	if err := c.Validate(); err != nil {
		return registry.StoredResponse{}, false, err
	}
	lease := c.Lease
	if lease <= 0 {
		lease = registry.IdempotencyLease
	}
	pk := idempotencyPK(c.Project, c.Principal, c.Key)
	for range idemClaimAttempts {
		now := s.now().UTC()
		item, err := attributevalue.MarshalMap(idemItem{
			PK: pk, SK: skIdempotencyRecord, State: idemInProgress, Fingerprint: c.Fingerprint, Token: c.Token, Principal: c.Principal,
			LeaseUntil: now.Add(lease).UnixMilli(), ExpiresAt: now.Add(registry.IdempotencyWindow).Unix(), CreatedAt: now,
		})
		if err != nil {
			return registry.StoredResponse{}, false, fmt.Errorf("encode idempotency claim: %w", err)
		}
		// Free: never used; expired (TTL deletion is lazy on AWS and never
		// happens on local engines); or the same request's claim whose holder
		// outlived its lease without finishing (it died: take it over).
		free := expression.AttributeNotExists(expression.Name(attrPK)).
			Or(expression.Name(attrExpiresAt).LessThan(expression.Value(now.Unix()))).
			Or(expression.And(
				nameIdemState.Equal(expression.Value(idemInProgress)),
				expression.Name("lease_until").LessThan(expression.Value(now.UnixMilli())),
				expression.Name("fingerprint").Equal(expression.Value(c.Fingerprint))))
		expr, err := expression.NewBuilder().WithCondition(free).Build()
		if err != nil {
			return registry.StoredResponse{}, false, fmt.Errorf("build idempotency claim: %w", err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table), Item: item, ConditionExpression: expr.Condition(),
			ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return registry.StoredResponse{}, true, nil
		case !errors.As(err, &ccf):
			return registry.StoredResponse{}, false, engineError("claim idempotency key", err)
		}
		held := ccf.Item
		if len(held) == 0 {
			if held, err = s.getIdempotencyRecord(ctx, pk); err != nil {
				return registry.StoredResponse{}, false, err
			}
		}
		if len(held) == 0 {
			continue // released since the claim failed: claim again
		}
		var rec idemItem
		if err := attributevalue.UnmarshalMap(held, &rec); err != nil {
			return registry.StoredResponse{}, false, fmt.Errorf("decode idempotency record: %w", err)
		}
		if rec.ExpiresAt < now.Unix() {
			continue
		}
		stored, err := rec.record()
		if err != nil {
			return registry.StoredResponse{}, false, err
		}
		prior, claimed, err := stored.Answer(c, now)
		if err != nil || claimed || rec.State == idemCompleted {
			return prior, claimed, err
		}
		// An in-progress claim whose lease ran out after the condition was
		// evaluated: claim again, which takes it over.
	}
	return registry.StoredResponse{}, false, registry.Errorf(registry.CodeUnavailable, "the %s could not be claimed because of concurrent requests with it; retry in a moment", registry.HeaderIdempotencyKey)
}

func (s *Store) getIdempotencyRecord(ctx context.Context, pk string) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, skIdempotencyRecord), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, engineError("read idempotency record", err)
	}
	return out.Item, nil
}

// CompleteIdempotencyKey is one PutItem under `token = :token`. Bodies over
// 32 KiB are stored gzipped; one that does not fit even so is dropped and its
// repeats are told so (a 409 naming the status and Location).
func (s *Store) CompleteIdempotencyKey(ctx context.Context, c registry.IdempotencyClaim, resp registry.StoredResponse) error {
	if err := c.Validate(); err != nil {
		return err
	}
	now := s.now().UTC()
	rec := idemItem{
		PK: idempotencyPK(c.Project, c.Principal, c.Key), SK: skIdempotencyRecord, State: idemCompleted,
		Fingerprint: c.Fingerprint, Token: c.Token, Principal: c.Principal,
		ExpiresAt: now.Add(registry.IdempotencyWindow).Unix(), CreatedAt: now,
		Status: resp.Status, Body: resp.Body, Headers: resp.Headers,
	}
	if len(rec.Headers) == 0 {
		rec.Headers = nil // no empty maps are stored
	}
	var err error
	if rec.Body, rec.BodyGzip, rec.BodyDropped, err = registry.PackBody(resp.Body); err != nil {
		return err
	}
	item, err := attributevalue.MarshalMap(rec)
	if err != nil {
		return fmt.Errorf("encode idempotency record: %w", err)
	}
	expr, err := expression.NewBuilder().WithCondition(nameIdemToken.Equal(expression.Value(c.Token))).Build()
	if err != nil {
		return fmt.Errorf("build idempotency completion: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item, ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return engineError("store idempotent answer", err)
	}
	return nil // stored, or the claim was taken over: its new holder answers
}

// ReleaseIdempotencyKey is one DeleteItem under `token = :token`.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, c registry.IdempotencyClaim) error {
	if err := c.Validate(); err != nil {
		return err
	}
	expr, err := expression.NewBuilder().WithCondition(nameIdemToken.Equal(expression.Value(c.Token))).Build()
	if err != nil {
		return fmt.Errorf("build idempotency release: %w", err)
	}
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(idempotencyPK(c.Project, c.Principal, c.Key), skIdempotencyRecord),
		ConditionExpression: expr.Condition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return engineError("release idempotency key", err)
	}
	return nil
}
