package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// ClaimIdempotencyKey claims c's key in one transaction: free (never used,
// expired, or the same request's claim whose lease ran out) → claimed;
// otherwise the record answers (registry.IdempotencyRecord.Answer).
func (s *Store) ClaimIdempotencyKey(ctx context.Context, c registry.IdempotencyClaim) (registry.StoredResponse, bool, error) {
	if err := c.Validate(); err != nil {
		return registry.StoredResponse{}, false, err
	}
	lease := c.Lease
	if lease <= 0 {
		lease = registry.IdempotencyLease
	}
	now := s.now().UTC()
	var prior registry.StoredResponse
	claimed := false
	err := s.write(ctx, "claim idempotency key", func(tx *sql.Tx) error {
		keyHash := hashKey(c.Principal, c.Key)
		rec, expires, found, err := getIdempotency(ctx, tx, c.Project, keyHash)
		if err != nil {
			return err
		}
		free := !found || expires < now.Unix() ||
			!rec.Completed && rec.LeaseUntil.UnixMilli() < now.UnixMilli() && rec.Fingerprint == c.Fingerprint
		if !free {
			prior, claimed, err = rec.Answer(c, now)
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO idempotency (project, key_hash, completed, fingerprint, token, lease_until, expires_at, created_at)
			VALUES (?, ?, 0, ?, ?, ?, ?, ?)`,
			c.Project, keyHash, c.Fingerprint, c.Token, now.Add(lease).UnixMilli(), now.Add(registry.IdempotencyWindow).Unix(), nanos(now))
		claimed = err == nil
		return err
	})
	return prior, claimed, err
}

func getIdempotency(ctx context.Context, q queryer, project, keyHash string) (rec registry.IdempotencyRecord, expires int64, found bool, err error) {
	var lease, created int64
	var body string
	var gz []byte
	var headers sql.NullString
	err = q.QueryRowContext(ctx, `SELECT completed, fingerprint, token, lease_until, expires_at, created_at, status, body, body_gzip, body_dropped, headers
		FROM idempotency WHERE project = ? AND key_hash = ?`, project, keyHash).
		Scan(&rec.Completed, &rec.Fingerprint, &rec.Token, &lease, &expires, &created, &rec.Response.Status, &body, &gz, &rec.BodyDropped, &headers)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return rec, 0, false, nil
	case err != nil:
		return rec, 0, false, fmt.Errorf("read idempotency record: %w", err)
	}
	rec.LeaseUntil, rec.Response.CreatedAt = time.UnixMilli(lease), fromNanos(created)
	if rec.Response.Body, err = registry.UnpackBody(body, gz); err != nil {
		return rec, 0, false, err
	}
	if headers.Valid {
		if err := json.Unmarshal([]byte(headers.String), &rec.Response.Headers); err != nil {
			return rec, 0, false, fmt.Errorf("decode stored headers: %w", err)
		}
	}
	return rec, expires, true, nil
}

// CompleteIdempotencyKey stores the answer if c.Token still holds the claim.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, c registry.IdempotencyClaim, resp registry.StoredResponse) error {
	if err := c.Validate(); err != nil {
		return err
	}
	body, gz, dropped, err := registry.PackBody(resp.Body)
	if err != nil {
		return err
	}
	var headers any
	if len(resp.Headers) > 0 {
		b, err := json.Marshal(resp.Headers)
		if err != nil {
			return fmt.Errorf("encode stored headers: %w", err)
		}
		headers = string(b)
	}
	now := s.now().UTC()
	return s.write(ctx, "store idempotent answer", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency SET completed = 1, status = ?, body = ?, body_gzip = ?, body_dropped = ?, headers = ?, expires_at = ?, created_at = ?
			WHERE project = ? AND key_hash = ? AND token = ?`,
			resp.Status, body, gz, dropped, headers, now.Add(registry.IdempotencyWindow).Unix(), nanos(now), c.Project, hashKey(c.Principal, c.Key), c.Token)
		return err
	})
}

// ReleaseIdempotencyKey frees c's key if c.Token still holds the claim.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, c registry.IdempotencyClaim) error {
	if err := c.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "release idempotency key", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency WHERE project = ? AND key_hash = ? AND token = ?`, c.Project, hashKey(c.Principal, c.Key), c.Token)
		return err
	})
}
