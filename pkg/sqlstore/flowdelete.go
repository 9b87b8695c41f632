package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kitaru/deployments/pkg/registry"
)

// DeleteFlow removes a flow's versions, routes and history in one write
// transaction. The flows row stays with its version counter and route clock,
// and each tag's row with its revision, routing no version
// (deployments = 0 reads as no flow), so a re-created flow's versions
// continue after the old numbers (I1). Executions are not touched.
func (s *Store) DeleteFlow(ctx context.Context, project, flow string, force bool, by string) (registry.FlowDeletion, error) {
	res := registry.FlowDeletion{Project: project, Flow: flow, Forced: force, Tags: map[string][]int{}, Versions: []int{}}
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	err := s.write(ctx, "delete flow "+flow, func(tx *sql.Tx) error {
		f, err := liveFlow(ctx, tx, project, flow)
		if err != nil {
			return err
		}
		routes, err := getRoutes(ctx, tx, project, flow)
		if err != nil {
			return err
		}
		if blocking := routes.BlockingTags(); len(blocking) > 0 && !force {
			return registry.FlowHasRoutes(flow, blocking)
		}
		res.Tags, res.NextVersion = routes.RemovedTags(), f.lastVersion+1
		if res.Versions, err = flowVersions(ctx, tx, project, flow); err != nil {
			return err
		}
		// Children first: route_members refers to routes and versions. The
		// routes rows stay, holding no version: their revisions go on, so a
		// revision read before the delete never matches a re-created tag.
		// Removing a route is a change of it: its revision moves on now, so
		// an If-Match read before the delete is stale even before the tag is
		// routed again.
		if _, err := tx.ExecContext(ctx, `UPDATE routes SET revision = revision + 1
			WHERE project = ? AND flow = ? AND EXISTS (SELECT 1 FROM route_members m WHERE m.project = routes.project AND m.flow = routes.flow AND m.tag = routes.tag)`,
			project, flow); err != nil {
			return fmt.Errorf("retire the flow's routes: %w", err)
		}
		for _, table := range []string{"route_members", "history", "versions"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE project = ? AND flow = ?`, project, flow); err != nil {
				return fmt.Errorf("delete the flow's %s: %w", table, err)
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE flows SET deployments = 0, updated_at = ? WHERE project = ? AND flow = ?`, nanos(s.now()), project, flow)
		return err
	})
	return res, err
}

// flowVersions lists a flow's versions, ascending.
func flowVersions(ctx context.Context, q queryer, project, flow string) ([]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM versions WHERE project = ? AND flow = ? ORDER BY version`, project, flow)
	if err != nil {
		return nil, fmt.Errorf("list the versions of %s: %w", flow, err)
	}
	defer rows.Close()
	versions := []int{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("list the versions of %s: %w", flow, err)
		}
		versions = append(versions, v)
	}
	return versions, rows.Err()
}
