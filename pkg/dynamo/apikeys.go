package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

var _ auth.KeyStore = (*Store)(nil)

// API key items (docs/data-model.md, "API keys"). Keys belong to the
// operator, not to a project (one key may span projects), so their
// partitions do not start with P#. The key item is what authentication
// reads; the index item is a copy without the hash, in one partition and
// sorted by creation time, so listing every key is one Query and no Scan.
const (
	skKey            = "KEY"
	pkKeyIndex       = "KEYS"
	skKeyIndexPrefix = "K#"
	attrRevokedAt    = "revoked_at"
	attrLastUsedAt   = "last_used_at"
	attrCreatedAt    = "created_at"
	// keyTimeLayout is RFC 3339 with a fixed nine-digit fraction, in UTC:
	// unlike time.RFC3339Nano, which drops trailing zeros, its strings sort
	// in time order, which the index's sort key and TouchKey's
	// `last_used_at < :at` condition rely on.
	keyTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"
	// keyListPage is the page size of the index query; ListKeys follows
	// LastEvaluatedKey until the partition is read.
	keyListPage = 1000
)

func keyPK(id string) string { return "KEY#" + id }
func keyIndexSK(createdAt, id string) string {
	return skKeyIndexPrefix + createdAt + "#" + id
}
func keyTime(t time.Time) string { return t.UTC().Format(keyTimeLayout) }

// keyItem is a stored API key and, under the index key and without the
// hash, its listing copy. Projects is never empty (CreateKey refuses that),
// so no empty list is ever stored; optional fields are omitted when unset.
type keyItem struct {
	PK          string   `dynamodbav:"PK"`
	SK          string   `dynamodbav:"SK"`
	ID          string   `dynamodbav:"key_id"`
	Hash        []byte   `dynamodbav:"hash,omitempty"`
	Projects    []string `dynamodbav:"projects"`
	Role        string   `dynamodbav:"role"`
	Description string   `dynamodbav:"description,omitempty"`
	CreatedAt   string   `dynamodbav:"created_at"`
	LastUsedAt  string   `dynamodbav:"last_used_at,omitempty"`
	RevokedAt   string   `dynamodbav:"revoked_at,omitempty"`
}

func newKeyItem(k auth.Key) keyItem {
	it := keyItem{
		PK: keyPK(k.ID), SK: skKey, ID: k.ID, Hash: k.Hash, Projects: k.Projects,
		Role: string(k.Role), Description: k.Description, CreatedAt: keyTime(k.CreatedAt),
	}
	if k.LastUsedAt != nil {
		it.LastUsedAt = keyTime(*k.LastUsedAt)
	}
	if k.RevokedAt != nil {
		it.RevokedAt = keyTime(*k.RevokedAt)
	}
	return it
}

func (it keyItem) key() (auth.Key, error) {
	k := auth.Key{ID: it.ID, Hash: it.Hash, Projects: it.Projects, Role: registry.Role(it.Role), Description: it.Description}
	var err error
	if k.CreatedAt, err = time.Parse(time.RFC3339Nano, it.CreatedAt); err != nil {
		return auth.Key{}, fmt.Errorf("decode API key %s: created_at: %w", it.ID, err)
	}
	for _, f := range []struct {
		text string
		dst  **time.Time
	}{{it.LastUsedAt, &k.LastUsedAt}, {it.RevokedAt, &k.RevokedAt}} {
		if f.text == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.text)
		if err != nil {
			return auth.Key{}, fmt.Errorf("decode API key %s: %w", it.ID, err)
		}
		*f.dst = &t
	}
	return k, nil
}

func decodeKey(item map[string]types.AttributeValue) (auth.Key, error) {
	var it keyItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return auth.Key{}, fmt.Errorf("decode API key: %w", err)
	}
	return it.key()
}

var errKeyContended = registry.Errorf(registry.CodeUnavailable, "the API key is changing concurrently; retry in a moment")

// CreateKey writes the key item and its index copy in one transaction: one
// round trip. A zero CreatedAt is now. Errors: invalid_argument (no id, no
// hash, no or invalid projects, unknown role), conflict (the id exists).
func (s *Store) CreateKey(ctx context.Context, k auth.Key) error {
	if err := k.ValidateNew(); err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	it := newKeyItem(k)
	record, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("encode API key: %w", err)
	}
	it.PK, it.SK, it.Hash = pkKeyIndex, keyIndexSK(it.CreatedAt, it.ID), nil
	listing, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("encode API key: %w", err)
	}
	t := &txn{table: s.table}
	fresh := expression.AttributeNotExists(expression.Name(attrPK))
	if err := t.put(record, &fresh); err != nil {
		return err
	}
	if err := t.put(listing, &fresh); err != nil {
		return err
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		out, err := s.send(ctx, t)
		switch {
		case err != nil:
			return engineError(fmt.Sprintf("create API key %s", k.ID), err)
		case out.any():
			return auth.KeyExists(k.ID)
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return errKeyContended
}

// GetKey is one consistent GetItem. Errors: not_found.
func (s *Store) GetKey(ctx context.Context, id string) (auth.Key, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(keyPK(id), skKey), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return auth.Key{}, engineError(fmt.Sprintf("read API key %s", id), err)
	}
	if len(out.Item) == 0 {
		return auth.Key{}, auth.KeyNotFound(id)
	}
	return decodeKey(out.Item)
}

// ListKeys queries the index partition oldest first; the copies carry no
// hash, so neither does any key it returns. One Query per 1000 keys.
func (s *Store) ListKeys(ctx context.Context) ([]auth.Key, error) {
	keys := []auth.Key{}
	var start map[string]types.AttributeValue
	for {
		out, err := s.queryPrefix(ctx, pkKeyIndex, skKeyIndexPrefix, keyListPage, start, true)
		if err != nil {
			return nil, engineError("list API keys", err)
		}
		for _, item := range out.Items {
			k, err := decodeKey(item)
			if err != nil {
				return nil, err
			}
			keys = append(keys, k)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return keys, nil
		}
		start = out.LastEvaluatedKey
	}
}

// RevokeKey reads the key, then sets revoked_at on it and its index copy in
// one transaction under `attribute_not_exists(revoked_at)`: two round trips.
// A key already revoked is returned as it is, so the first revocation's time
// stays. Errors: not_found.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (auth.Key, error) {
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		cur, err := s.GetKey(ctx, id)
		if err != nil || cur.RevokedAt != nil {
			return cur, err
		}
		t, err := s.planRevokeKey(cur, at)
		if err != nil {
			return auth.Key{}, err
		}
		out, err := s.send(ctx, t)
		switch {
		case err != nil:
			return auth.Key{}, engineError(fmt.Sprintf("revoke API key %s", id), err)
		case out.failedAt(0):
			// Revoked meanwhile: the next read returns the first revocation.
		case out.any():
			return auth.Key{}, fmt.Errorf("revoke API key %s: its index item is missing", id)
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return auth.Key{}, err
			}
		default:
			revoked := at.UTC()
			cur.RevokedAt = &revoked
			return cur, nil
		}
	}
	return auth.Key{}, errKeyContended
}

// planRevokeKey updates [0] the key item, unless it is already revoked, and
// [1] its index copy.
func (s *Store) planRevokeKey(cur auth.Key, at time.Time) (*txn, error) {
	set := expression.Set(expression.Name(attrRevokedAt), expression.Value(keyTime(at)))
	exists := expression.AttributeExists(expression.Name(attrPK))
	t := &txn{table: s.table}
	if err := t.update(key(keyPK(cur.ID), skKey), set, exists.And(expression.AttributeNotExists(expression.Name(attrRevokedAt)))); err != nil {
		return nil, err
	}
	if err := t.update(key(pkKeyIndex, keyIndexSK(keyTime(cur.CreatedAt), cur.ID)), set, exists); err != nil {
		return nil, err
	}
	return t, nil
}

// TouchKey sets last_used_at on the key unless it was set less than a
// minute before at; then, best effort, on its index copy so that the list
// shows it. A throttled touch is one round trip, a recorded one two. A
// refused condition (recently touched, or no such key) is not an error.
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	stamp := keyTime(at)
	exists := expression.AttributeExists(expression.Name(attrPK))
	lastUsed := expression.Name(attrLastUsedAt)
	cond := exists.And(expression.Or(expression.AttributeNotExists(lastUsed), lastUsed.LessThan(expression.Value(keyTime(at.Add(-auth.TouchInterval))))))
	upd := expression.Set(lastUsed, expression.Value(stamp))
	item, applied, err := s.updateIf(ctx, key(keyPK(id), skKey), upd, cond, types.ReturnValueAllNew)
	if err != nil || !applied {
		return err
	}
	createdAt := stringAttr(item, attrCreatedAt)
	if createdAt == "" {
		return fmt.Errorf("touch API key %s: the engine returned no created_at", id)
	}
	// The copy is only for display: a newer touch wins, a lost one ages it.
	cond = exists.And(expression.Or(expression.AttributeNotExists(lastUsed), lastUsed.LessThan(expression.Value(stamp))))
	_, _, err = s.updateIf(ctx, key(pkKeyIndex, keyIndexSK(createdAt, id)), upd, cond, types.ReturnValueNone)
	return err
}

// updateIf sends one conditional UpdateItem; applied is false when the
// condition failed, which is not an error.
func (s *Store) updateIf(ctx context.Context, k map[string]types.AttributeValue, upd expression.UpdateBuilder, cond expression.ConditionBuilder, rv types.ReturnValue) (map[string]types.AttributeValue, bool, error) {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return nil, false, fmt.Errorf("build update: %w", err)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: k,
		UpdateExpression: expr.Update(), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ReturnValues: rv,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("update %s: %w", stringAttr(k, attrPK), err)
	}
	return out.Attributes, true, nil
}
