package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// FlowRows renders every row the store keeps about a flow, exactly: the
// conformance suite's Engine.FlowState.
func (s *Store) FlowRows(project, flow string) (string, error) {
	var b strings.Builder
	for _, table := range []string{"flows", "versions", "routes", "route_members", "history"} {
		rows, err := s.reader.QueryContext(context.Background(), `SELECT * FROM `+table+` WHERE project = ? AND flow = ? ORDER BY 1, 2, 3, 4`, project, flow)
		if err != nil {
			return "", err
		}
		cols, err := rows.Columns()
		if err != nil {
			rows.Close()
			return "", err
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				rows.Close()
				return "", err
			}
			fmt.Fprintf(&b, "%s %v\n", table, vals)
		}
		if err := rows.Close(); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// LimitLiveTags lowers the store's cap on a flow's routed tags, so the
// conformance suite can reach it quickly (Engine.LimitTags).
func (s *Store) LimitLiveTags(n int) { s.maxLiveTags = n }
