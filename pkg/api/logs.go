package api

import "github.com/kitaru/deployments/pkg/registry"

// ExecutionLog is one page of an execution's log, the answer of
// GET /v1/executions/{exec_id}/logs: what the flow printed (stdout and
// stderr, interleaved as written) and the runner's own "[kitaru]" lines.
type ExecutionLog struct {
	ExecID string              `json:"exec_id"`
	Status registry.ExecStatus `json:"status"`
	// Data is the log from Cursor on, at most MaxLogPageBytes of it, as
	// UTF-8 text (a page never ends inside a character).
	Data string `json:"data"`
	// Cursor is where this page starts; NextCursor is where the next
	// starts: pass it as the cursor query parameter. Cursors are opaque.
	Cursor     string `json:"cursor"`
	NextCursor string `json:"next_cursor"`
	// Ended is true once the execution has ended and the log holds nothing
	// after NextCursor: a follower stops there.
	Ended bool `json:"ended"`
}

// MaxLogPageBytes bounds the log bytes of one ExecutionLog page.
const MaxLogPageBytes = 256 << 10
