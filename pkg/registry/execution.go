package registry

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
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
	Type    string `json:"type"`
	Message string `json:"message"`
	// Traceback is the one a user reads: for a flow's own error it starts
	// at the user's code (the runner's frames are left out).
	Traceback string `json:"traceback,omitempty"`
	// Details carries machine-readable context for debugging, such as
	// DetailRunnerTraceback; nil or empty is left out of the JSON.
	Details map[string]any `json:"details,omitempty" jsonschema:"debugging context of the failure, such as runner_traceback (the full traceback, runner frames included)"`
}

// DetailRunnerTraceback is the ExecError.Details key of the runner's full,
// unfiltered traceback, its own frames included.
const DetailRunnerTraceback = "runner_traceback"

// Execution is one run of a saved deployment snapshot.
type Execution struct {
	Project  string   `json:"project"`
	ExecID   string   `json:"exec_id"`
	Flow     string   `json:"flow"`
	Version  int      `json:"version"`
	Snapshot string   `json:"snapshot"`
	Selector Selector `json:"selector"` // what the caller asked for: the tag or the version
	// RouteRevision is the revision of the tag's route the invoke resolved
	// (by tag only): with a split tag, Version is the member picked from the
	// route at that revision (docs/splits.md).
	RouteRevision int64           `json:"route_revision,omitempty"`
	Status        ExecStatus      `json:"status"`
	Inputs        json.RawMessage `json:"inputs"` // merged: deploy-time overlaid by invoke-time
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
	// ListExecutionsBy returns a flow's executions that pass filter, newest
	// first. A page may hold fewer than page.Limit items while NextToken is
	// set: the store bounds how many executions one page reads.
	// Errors: invalid_argument (bad filter or token).
	ListExecutionsBy(ctx context.Context, project, flow string, filter ExecutionFilter, page PageRequest) (Page[Execution], error)
	// FinishExecution moves a running execution to o.Status (terminal). If the
	// execution already ended, nothing changes and the stored execution is
	// returned with finished=false. Errors: not_found, invalid_argument (status not terminal).
	FinishExecution(ctx context.Context, project, execID string, o Outcome) (got Execution, finished bool, err error)
	// ClaimStart records that one more request is about to start a running
	// execution (a replay of its Idempotency-Key starts it again: docs/executions.md,
	// "A replay racing the abandon") and returns that request's claim: the
	// invocation that recorded the execution holds claim 1, each ClaimStart
	// the next number. Errors: not_found (never recorded, or abandoned),
	// conflict (it ended).
	ClaimStart(ctx context.Context, project, execID string) (claim int, err error)
	// AbandonExecution removes a running execution whose run never started
	// (Step Functions refused the start: docs/executions.md, "When Step
	// Functions throttles"): the record, its listing copy, its running index
	// entry and the Idempotency-Key mapping that names it, atomically, only
	// while it is still running and claim is its latest start claim (no
	// later request is starting it), so that it reads as never invoked and
	// its key is free again. A key another execution took over since is
	// kept. An execution already gone is not an error (the abandon is
	// retried, or a racing replay abandoned it first). Errors: conflict (it
	// ended, or a later claim was made; nothing is removed).
	AbandonExecution(ctx context.Context, project, execID string, claim int) error
}

// MaxExecutionRecordBytes bounds the inputs, inline result and error of one
// execution record together: DynamoDB's 400 KB item limit with room for the
// other attributes. Every store enforces it, so a flow behaves alike on all.
const MaxExecutionRecordBytes = 390 << 10

// ValidateNewExecution checks an execution about to be recorded and fills
// in its defaults: empty inputs as {}, an unset start as now, the start in
// UTC. Errors: invalid_argument.
func ValidateNewExecution(e *Execution, now time.Time) error {
	if err := ValidateProject(e.Project); err != nil {
		return err
	}
	if err := ValidateFlowName(e.Flow); err != nil {
		return err
	}
	if err := ValidateExecID(e.ExecID); err != nil {
		return err
	}
	if err := ValidateVersion(e.Version); err != nil {
		return err
	}
	if e.Status != StatusRunning {
		return Errorf(CodeInvalidArgument, "a new execution must be %s, not %q", StatusRunning, e.Status)
	}
	if len(e.IdempotencyKey) > MaxIdempotencyKeyLen {
		return Errorf(CodeInvalidArgument, "Idempotency-Key is %d bytes; use at most %d (a UUID is plenty)", len(e.IdempotencyKey), MaxIdempotencyKeyLen)
	}
	if len(e.Inputs) == 0 {
		e.Inputs = json.RawMessage(`{}`)
	} else if !json.Valid(e.Inputs) {
		return Errorf(CodeInvalidArgument, "execution inputs are not valid JSON; pass a JSON object")
	}
	if e.StartedAt.IsZero() {
		e.StartedAt = now
	}
	e.StartedAt = e.StartedAt.UTC()
	return nil
}

// ValidateExecID checks an execution id. Errors: invalid_argument.
func ValidateExecID(execID string) error {
	if execID == "" {
		return Errorf(CodeInvalidArgument, "execution id is empty; pass the exec_id an invocation returned")
	}
	return nil
}

// ExecutionNotFound is the not_found of an unknown execution id.
func ExecutionNotFound(execID string) *Error {
	return Errorf(CodeNotFound, "execution %q not found; list the flow's executions to find its id", execID).
		WithDetails("exec_id", execID).WithReason(ReasonExecutionNotFound)
}

// CheckAbandon is the rule of ExecutionStore.AbandonExecution, applied to
// the execution as a store read it (cur with its latest start claim
// curClaim, readErr) for a request holding claim: abandon=true when it is
// running and claim is the latest; false with no error when it is gone
// (nothing to do); false with conflict when it ended or a later request
// claimed its start, or with readErr when the read failed.
func CheckAbandon(cur Execution, curClaim, claim int, readErr error) (abandon bool, err error) {
	switch {
	case errors.Is(readErr, ErrNotFound):
		return false, nil
	case readErr != nil:
		return false, readErr
	case cur.Status.Terminal():
		return false, Errorf(CodeConflict, "execution %q already ended as %s, so it is kept; read it to see its outcome", cur.ExecID, cur.Status).
			WithDetails("exec_id", cur.ExecID).WithDetails("status", cur.Status)
	case curClaim != claim:
		return false, Errorf(CodeConflict, "execution %q is being started by a later request with its Idempotency-Key (start claim %d, not %d), so it is kept; repeat the request with the same key to read it", cur.ExecID, curClaim, claim).
			WithDetails("exec_id", cur.ExecID)
	}
	return true, nil
}

// CheckClaim explains a start claim refused because the execution was not
// running, from the execution as the store then read it (cur, readErr):
// not_found when it is gone, conflict when it ended.
func CheckClaim(cur Execution, readErr error) error {
	if readErr != nil {
		return readErr
	}
	return Errorf(CodeConflict, "execution %q already ended as %s; read it to see its outcome", cur.ExecID, cur.Status).
		WithDetails("exec_id", cur.ExecID).WithDetails("status", cur.Status)
}

// ExecutionExists refuses recording an execution id twice.
func ExecutionExists(execID string) *Error {
	return Errorf(CodeConflict, "execution %q already exists; start a new execution with a fresh id", execID).WithDetails("exec_id", execID)
}

// ExecutionKeyMismatch refuses an invocation whose Idempotency-Key started
// execution execID of flow with another request.
func ExecutionKeyMismatch(flow, execID string) *Error {
	return Errorf(CodeIdempotencyMismatch,
		"this %s already started execution %s of flow %q with a different request (other inputs or selector) within %g hours; send a new key for a new invocation, or repeat the original request unchanged",
		HeaderIdempotencyKey, execID, flow, IdempotencyWindow.Hours()).
		WithDetails("header", HeaderIdempotencyKey).WithDetails("exec_id", execID)
}

// Validate checks an outcome to record. Errors: invalid_argument.
func (o Outcome) Validate() error {
	if !o.Status.Terminal() {
		return Errorf(CodeInvalidArgument, "an execution can only finish as %s, %s or %s, not %q",
			StatusCompleted, StatusFailed, StatusCancelled, o.Status)
	}
	if len(o.Result) > 0 && !json.Valid(o.Result) {
		return Errorf(CodeInvalidArgument, "the execution result is not valid JSON")
	}
	if o.Error != nil && len(o.Error.Details) > 0 {
		if _, err := json.Marshal(o.Error.Details); err != nil {
			return Errorf(CodeInvalidArgument, "the execution error's details do not encode as JSON (%v); give them strings, numbers, booleans, lists and objects", err)
		}
	}
	return nil
}

// CheckFits refuses an outcome that would make the record of cur exceed
// MaxExecutionRecordBytes. Errors: payload_too_large.
func (o Outcome) CheckFits(cur Execution) error {
	n := len(cur.Inputs) + len(o.Result)
	if o.Error != nil {
		n += len(o.Error.Type) + len(o.Error.Message) + len(o.Error.Traceback)
		if len(o.Error.Details) > 0 {
			b, _ := json.Marshal(o.Error.Details) // Validate refused details that do not encode
			n += len(b)
		}
	}
	if n > MaxExecutionRecordBytes {
		return Errorf(CodePayloadTooLarge,
			"execution %s: inputs and result together are %d bytes, over the %d an execution record holds; upload the result and pass its result_ref", cur.ExecID, n, MaxExecutionRecordBytes)
	}
	return nil
}

// Finished is e after o was recorded.
func (e Execution) Finished(o Outcome) Execution {
	at := o.At.UTC()
	e.Status, e.EndedAt, e.Result, e.ResultRef, e.Error = o.Status, &at, nil, o.ResultRef, nil
	if len(o.Result) > 0 {
		e.Result = o.Result
	}
	if o.Error != nil {
		ee := *o.Error
		if len(ee.Details) == 0 {
			ee.Details = nil
		} else {
			ee.Details = maps.Clone(ee.Details)
		}
		e.Error = &ee
	}
	return e
}
