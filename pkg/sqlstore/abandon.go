package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/kitaru/deployments/pkg/registry"
)

// ClaimStart raises a running execution's start claim and returns it, in
// one write transaction. Errors: not_found, conflict (it ended).
func (s *Store) ClaimStart(ctx context.Context, project, execID string) (int, error) {
	if err := registry.ValidateExecID(execID); err != nil {
		return 0, err
	}
	var claim int
	err := s.write(ctx, "claim the start of execution "+execID, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE executions SET start_claims = start_claims + 1
			WHERE project = ? AND exec_id = ? AND status = 'running' RETURNING start_claims`, project, execID).Scan(&claim)
		if errors.Is(err, sql.ErrNoRows) {
			return registry.CheckClaim(getExecution(ctx, tx, project, execID))
		}
		return err
	})
	return claim, err
}

// AbandonExecution deletes a running execution whose latest start claim is
// claim, and the Idempotency-Key mapping that names it, in one
// transaction; an execution already gone is not an error. Errors: conflict
// (it ended, or a later request claimed its start).
func (s *Store) AbandonExecution(ctx context.Context, project, execID string, claim int) error {
	return s.write(ctx, "abandon execution "+execID, func(tx *sql.Tx) error {
		cur, err := getExecution(ctx, tx, project, execID)
		var latest int
		if err == nil {
			err = tx.QueryRowContext(ctx, `SELECT start_claims FROM executions WHERE project = ? AND exec_id = ?`, project, execID).Scan(&latest)
		}
		if abandon, err := registry.CheckAbandon(cur, latest, claim, err); !abandon {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM executions WHERE project = ? AND exec_id = ? AND status = 'running'`, project, execID); err != nil {
			return err
		}
		// Only a mapping to this execution: one taken over after its window names another.
		_, err = tx.ExecContext(ctx, `DELETE FROM execution_keys WHERE project = ? AND flow = ? AND exec_id = ?`, project, cur.Flow, execID)
		return err
	})
}
