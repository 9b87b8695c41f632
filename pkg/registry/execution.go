package registry

import (
	"context"
	"encoding/json"
	"time"
)

// ExecStatus is where an execution is in its life. Every execution ends in
// exactly one terminal status.
type ExecStatus string

// Execution statuses.
const (
	StatusRunning   ExecStatus = "running"
	StatusCompleted ExecStatus = "completed"
	StatusFailed    ExecStatus = "failed"
	StatusCancelled ExecStatus = "cancelled"
)

// Terminal reports whether the status is final.
func (s ExecStatus) Terminal() bool { return s != StatusRunning && s != "" }

// ExecError describes why an execution failed.
type ExecError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback,omitempty"`
}

// Execution is one run of a saved deployment snapshot.
type Execution struct {
	Project  string          `json:"project"`
	ExecID   string          `json:"exec_id"`
	Flow     string          `json:"flow"`
	Version  int             `json:"version"`
	Snapshot string          `json:"snapshot"`
	Selector Selector        `json:"selector"` // what the caller asked for: the tag or the version
	Status   ExecStatus      `json:"status"`
	Inputs   json.RawMessage `json:"inputs"` // merged: deploy-time overlaid by invoke-time
	// Result is the flow's JSON result; results over MaxInlineResultBytes are
	// stored in the bucket and ResultRef names the object instead.
	Result         json.RawMessage `json:"result,omitempty"`
	ResultRef      string          `json:"result_ref,omitempty"`
	Error          *ExecError      `json:"error,omitempty"`
	StartedAt      time.Time       `json:"started_at"`
	EndedAt        *time.Time      `json:"ended_at,omitempty"`
	InvokedBy      string          `json:"invoked_by"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	// RequestFingerprint identifies the invocation request an
	// IdempotencyKey was sent with (Fingerprint); never sent to clients.
	RequestFingerprint string `json:"-"`
}

// MaxInlineResultBytes bounds a result kept in the execution record.
const MaxInlineResultBytes = 256 << 10

// IdempotencyWindow is how long an Idempotency-Key maps to its execution.
const IdempotencyWindow = 24 * time.Hour

// Outcome is how an execution ended.
type Outcome struct {
	Status    ExecStatus
	Result    json.RawMessage
	ResultRef string
	Error     *ExecError
	At        time.Time
}

// ExecutionStore keeps execution records. Every method is project-scoped.
type ExecutionStore interface {
	// CreateExecution records a new running execution. When e.IdempotencyKey is
	// set and the same (project, flow, key) created an execution within
	// IdempotencyWindow, it returns that execution and created=false instead;
	// if that request's RequestFingerprint differs, idempotency_mismatch.
	// Errors: invalid_argument, idempotency_mismatch.
	CreateExecution(ctx context.Context, e Execution) (got Execution, created bool, err error)
	// GetExecution returns one execution. Errors: not_found.
	GetExecution(ctx context.Context, project, execID string) (Execution, error)
	// ListExecutions returns a flow's executions, newest first. Errors: invalid_argument (bad token).
	ListExecutions(ctx context.Context, project, flow string, page PageRequest) (Page[Execution], error)
	// FinishExecution moves a running execution to o.Status (terminal). If the
	// execution already ended, nothing changes and the stored execution is
	// returned with finished=false. Errors: not_found, invalid_argument (status not terminal).
	FinishExecution(ctx context.Context, project, execID string, o Outcome) (got Execution, finished bool, err error)
}
