package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

var _ registry.BundleGuard = (*Store)(nil)

// bundleGuard is a row of bundle_guards; a missing row is the zero value.
type bundleGuard struct {
	leases               int64
	leaseEnd, collectEnd int64
	token                string
}

func getBundleGuard(ctx context.Context, tx *sql.Tx, project, digest string) (bundleGuard, error) {
	var g bundleGuard
	err := tx.QueryRowContext(ctx, `SELECT leases, lease_until, collect_until, collect_token FROM bundle_guards WHERE project = ? AND digest = ?`,
		project, digest).Scan(&g.leases, &g.leaseEnd, &g.collectEnd, &g.token)
	if errors.Is(err, sql.ErrNoRows) {
		return bundleGuard{}, nil
	}
	return g, err
}

func putBundleGuard(ctx context.Context, tx *sql.Tx, project, digest string, g bundleGuard) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO bundle_guards (project, digest, leases, lease_until, collect_until, collect_token) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (project, digest) DO UPDATE SET leases = excluded.leases, lease_until = excluded.lease_until,
			collect_until = excluded.collect_until, collect_token = excluded.collect_token`,
		project, digest, g.leases, g.leaseEnd, g.collectEnd, g.token)
	return err
}

// LeaseBundle implements registry.BundleGuard; one write transaction
// orders it against collections.
func (s *Store) LeaseBundle(ctx context.Context, project, digest string, until time.Time) error {
	now := nanos(s.now())
	return s.write(ctx, "lease bundle "+digest, func(tx *sql.Tx) error {
		g, err := getBundleGuard(ctx, tx, project, digest)
		if err != nil {
			return err
		}
		if g.collectEnd >= now {
			return registry.BundleBeingCollected(digest)
		}
		// Deploys share the lease, each counted in and out; an ended
		// collection's token goes, so its late end cannot remove the lease.
		g.leases, g.leaseEnd, g.collectEnd, g.token = g.leases+1, max(g.leaseEnd, nanos(until)), 0, ""
		return putBundleGuard(ctx, tx, project, digest, g)
	})
}

// ReleaseBundle implements registry.BundleGuard.
func (s *Store) ReleaseBundle(ctx context.Context, project, digest string) error {
	return s.write(ctx, "release bundle "+digest, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE bundle_guards SET leases = leases - 1 WHERE project = ? AND digest = ? AND leases > 0`, project, digest)
		return err
	})
}

// StartBundleCollection implements registry.BundleGuard.
func (s *Store) StartBundleCollection(ctx context.Context, project, digest, token string, until time.Time) (bool, error) {
	now := nanos(s.now())
	started := false
	err := s.write(ctx, "start collecting bundle "+digest, func(tx *sql.Tx) error {
		g, err := getBundleGuard(ctx, tx, project, digest)
		if err != nil {
			return err
		}
		if (g.leases > 0 && g.leaseEnd >= now) || (g.collectEnd >= now && g.token != token) {
			return nil
		}
		// The count restarts: leases that ended unreleased (a deploy that
		// died) no longer hold the bundle.
		started = true
		g.leases, g.collectEnd, g.token = 0, nanos(until), token
		return putBundleGuard(ctx, tx, project, digest, g)
	})
	return started, err
}

// EndBundleCollection implements registry.BundleGuard.
func (s *Store) EndBundleCollection(ctx context.Context, project, digest, token string) error {
	return s.write(ctx, "end collecting bundle "+digest, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM bundle_guards WHERE project = ? AND digest = ? AND collect_token = ?`, project, digest, token)
		return err
	})
}
