package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

// CreateKey stores a key. Errors: invalid_argument, conflict (the id exists).
func (s *Store) CreateKey(ctx context.Context, k auth.Key) error {
	if err := k.ValidateNew(); err != nil {
		return err
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.now()
	}
	projects, err := json.Marshal(k.Projects)
	if err != nil {
		return fmt.Errorf("encode API key: %w", err)
	}
	return s.write(ctx, "create API key "+k.ID, func(tx *sql.Tx) error {
		if _, err := getKey(ctx, tx, k.ID); err == nil {
			return auth.KeyExists(k.ID)
		} else if registry.CodeOf(err) != registry.CodeNotFound {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (key_id, hash, projects, role, description, created_at, last_used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Hash, string(projects), string(k.Role), k.Description, nanos(k.CreatedAt), nullNanos(k.LastUsedAt), nullNanos(k.RevokedAt))
		return err
	})
}

const keyColumns = `key_id, hash, projects, role, description, created_at, last_used_at, revoked_at`

func scanKey(row interface{ Scan(...any) error }) (auth.Key, error) {
	var k auth.Key
	var projects string
	var created int64
	var used, revoked sql.NullInt64
	if err := row.Scan(&k.ID, &k.Hash, &projects, &k.Role, &k.Description, &created, &used, &revoked); err != nil {
		return k, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromNanos(created), fromNullNanos(used), fromNullNanos(revoked)
	if err := json.Unmarshal([]byte(projects), &k.Projects); err != nil {
		return k, fmt.Errorf("decode API key %s: %w", k.ID, err)
	}
	return k, nil
}

func getKey(ctx context.Context, q queryer, id string) (auth.Key, error) {
	k, err := scanKey(q.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE key_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, auth.KeyNotFound(id)
	}
	return k, err
}

// GetKey reads a key by id. Errors: not_found.
func (s *Store) GetKey(ctx context.Context, id string) (auth.Key, error) {
	k, err := getKey(ctx, s.reader, id)
	if err != nil {
		return auth.Key{}, dbError("read API key "+id, err)
	}
	return k, nil
}

// ListKeys returns every key oldest first, without hashes.
func (s *Store) ListKeys(ctx context.Context) ([]auth.Key, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, key_id`)
	if err != nil {
		return nil, dbError("list API keys", err)
	}
	defer rows.Close()
	keys := []auth.Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, dbError("list API keys", err)
		}
		k.Hash = nil
		keys = append(keys, k)
	}
	return keys, dbError("list API keys", rows.Err())
}

// RevokeKey marks a key revoked; a key already revoked keeps its first
// revocation time. Errors: not_found.
func (s *Store) RevokeKey(ctx context.Context, id string, at time.Time) (auth.Key, error) {
	var k auth.Key
	err := s.write(ctx, "revoke API key "+id, func(tx *sql.Tx) (err error) {
		if k, err = getKey(ctx, tx, id); err != nil || k.RevokedAt != nil {
			return err
		}
		revoked := at.UTC()
		k.RevokedAt = &revoked
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ? WHERE key_id = ?`, nanos(at), id)
		return err
	})
	if err != nil {
		return auth.Key{}, err
	}
	return k, nil
}

// TouchKey records a use of the key unless one was recorded less than
// auth.TouchInterval before at; an unknown key is not an error.
func (s *Store) TouchKey(ctx context.Context, id string, at time.Time) error {
	return s.write(ctx, "touch API key "+id, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
			nanos(at), id, nanos(at.Add(-auth.TouchInterval)))
		return err
	})
}
