package sqlstore

import (
	"context"
	"database/sql"

	"github.com/kitaru/deployments/pkg/registry"
)

// AbandonExecution deletes a running execution and the Idempotency-Key
// mapping that names it in one transaction; an execution already gone is
// not an error. Errors: conflict (it ended).
func (s *Store) AbandonExecution(ctx context.Context, project, execID string) error {
	return s.write(ctx, "abandon execution "+execID, func(tx *sql.Tx) error {
		cur, err := getExecution(ctx, tx, project, execID)
		if abandon, err := registry.CheckAbandon(cur, err); !abandon {
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
