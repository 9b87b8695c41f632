package sqlstore

import (
	"context"
	"fmt"

	"github.com/kitaru/deployments/pkg/registry"
)

// checkTagCapacity refuses routing the free tag r while its flow already
// routes registry.MaxLiveTags tags (the cap pkg/dynamo's head item needs;
// enforced here too so both stores answer alike).
func checkTagCapacity(ctx context.Context, q queryer, project string, r registry.Route, limit int) error {
	if !r.Free() {
		return nil
	}
	var live int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(DISTINCT tag) FROM route_members WHERE project = ? AND flow = ?`, project, r.Flow).Scan(&live); err != nil {
		return fmt.Errorf("count the tags of %s: %w", r.Flow, err)
	}
	return registry.CheckTagCapacity(r, live, limit)
}
