package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// hashKey names an Idempotency-Key without storing the key a client chose.
func hashKey(parts ...string) string {
	h := sha256.New()
	for i, p := range parts {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// CreateExecution records a running execution, and with an Idempotency-Key
// the key's mapping to it, in one transaction; a live key returns its
// execution instead (created=false), or idempotency_mismatch.
// Errors: invalid_argument, idempotency_mismatch, conflict (the id exists).
func (s *Store) CreateExecution(ctx context.Context, e registry.Execution) (registry.Execution, bool, error) {
	now := s.now().UTC()
	if err := registry.ValidateNewExecution(&e, now); err != nil {
		return registry.Execution{}, false, err
	}
	var got registry.Execution
	created := false
	err := s.write(ctx, fmt.Sprintf("record execution %s of %s", e.ExecID, e.Flow), func(tx *sql.Tx) error {
		keyHash := hashKey(e.IdempotencyKey)
		if e.IdempotencyKey != "" {
			var execID, fingerprint string
			var expires int64
			err := tx.QueryRowContext(ctx, `SELECT exec_id, fingerprint, expires_at FROM execution_keys WHERE project = ? AND flow = ? AND key_hash = ?`,
				e.Project, e.Flow, keyHash).Scan(&execID, &fingerprint, &expires)
			switch {
			case err == nil && expires >= now.Unix():
				if fingerprint != "" && e.RequestFingerprint != "" && fingerprint != e.RequestFingerprint {
					return registry.ExecutionKeyMismatch(e.Flow, execID)
				}
				got, err = getExecution(ctx, tx, e.Project, execID)
				return err
			case err != nil && !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		var one int
		switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM executions WHERE project = ? AND exec_id = ?`, e.Project, e.ExecID).Scan(&one); {
		case err == nil:
			return registry.ExecutionExists(e.ExecID)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO executions (project, exec_id, flow, version, snapshot, selector_tag, selector_version, route_revision, status, inputs, started_at, invoked_by, idempotency_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Project, e.ExecID, e.Flow, e.Version, e.Snapshot, nullString(e.Selector.Tag), nullInt(e.Selector.Version), nullInt(int(e.RouteRevision)), string(e.Status),
			string(e.Inputs), nanos(e.StartedAt), nullString(e.InvokedBy), nullString(e.IdempotencyKey)); err != nil {
			return err
		}
		if e.IdempotencyKey != "" {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO execution_keys (project, flow, key_hash, exec_id, fingerprint, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
				e.Project, e.Flow, keyHash, e.ExecID, e.RequestFingerprint, now.Add(registry.IdempotencyWindow).Unix()); err != nil {
				return err
			}
		}
		got, created = e, true
		got.RequestFingerprint = ""
		return nil
	})
	if err != nil {
		return registry.Execution{}, false, err
	}
	return got, created, nil
}

// executionColumns are read by scanExecution, in this order.
const executionColumns = `project, exec_id, flow, version, snapshot, selector_tag, selector_version, route_revision, status, inputs, result, result_ref, error, started_at, ended_at, invoked_by, idempotency_key`

func scanExecution(row interface{ Scan(...any) error }) (registry.Execution, error) {
	var e registry.Execution
	var tag, result, ref, execErr, by, key sql.NullString
	var selVersion, routeRev, ended sql.NullInt64
	var inputs string
	var started int64
	if err := row.Scan(&e.Project, &e.ExecID, &e.Flow, &e.Version, &e.Snapshot, &tag, &selVersion, &routeRev, &e.Status, &inputs,
		&result, &ref, &execErr, &started, &ended, &by, &key); err != nil {
		return e, err
	}
	e.Selector = registry.Selector{Tag: tag.String, Version: int(selVersion.Int64)}
	e.RouteRevision = routeRev.Int64
	e.Inputs, e.ResultRef, e.StartedAt, e.EndedAt = json.RawMessage(inputs), ref.String, fromNanos(started), fromNullNanos(ended)
	e.InvokedBy, e.IdempotencyKey = by.String, key.String
	if result.Valid {
		e.Result = json.RawMessage(result.String)
	}
	if execErr.Valid {
		e.Error = &registry.ExecError{}
		if err := json.Unmarshal([]byte(execErr.String), e.Error); err != nil {
			return e, fmt.Errorf("decode the error of execution %s: %w", e.ExecID, err)
		}
	}
	return e, nil
}

func getExecution(ctx context.Context, q queryer, project, execID string) (registry.Execution, error) {
	e, err := scanExecution(q.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE project = ? AND exec_id = ?`, project, execID))
	if errors.Is(err, sql.ErrNoRows) {
		return e, registry.ExecutionNotFound(execID)
	}
	return e, err
}

// GetExecution reads one execution by its primary key. Errors: not_found.
func (s *Store) GetExecution(ctx context.Context, project, execID string) (registry.Execution, error) {
	if err := registry.ValidateExecID(execID); err != nil {
		return registry.Execution{}, err
	}
	e, err := getExecution(ctx, s.reader, project, execID)
	if err != nil {
		return registry.Execution{}, dbError("read execution "+execID, err)
	}
	return e, nil
}

// ListExecutions pages through a flow's executions newest first (exec ids
// are time-sortable), a range of executions_by_flow.
func (s *Store) ListExecutions(ctx context.Context, project, flow string, page registry.PageRequest) (registry.Page[registry.Execution], error) {
	return s.ListExecutionsBy(ctx, project, flow, registry.ExecutionFilter{}, page)
}

// ListExecutionsBy is ListExecutions with the filter as conditions of the
// same range of executions_by_flow; its pages are always full.
func (s *Store) ListExecutionsBy(ctx context.Context, project, flow string, filter registry.ExecutionFilter, page registry.PageRequest) (registry.Page[registry.Execution], error) {
	var res registry.Page[registry.Execution]
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	if err := filter.Validate(); err != nil {
		return res, err
	}
	if err := page.Normalize(); err != nil {
		return res, err
	}
	list := listID("executions", project, flow)
	before, err := decodeToken(page.Token, list)
	if err != nil {
		return res, err
	}
	cond, args := "", []any{project, flow}
	if before != "" {
		cond, args = " AND exec_id < ?", append(args, before)
	}
	cond, args = executionConditions(filter, cond, args)
	rows, err := s.reader.QueryContext(ctx, `SELECT `+executionColumns+` FROM executions WHERE project = ? AND flow = ?`+cond+` ORDER BY exec_id DESC LIMIT ?`,
		append(args, page.Limit+1)...)
	if err != nil {
		return res, dbError("list executions of "+flow, err)
	}
	defer rows.Close()
	res.Items = []registry.Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return res, dbError("list executions of "+flow, err)
		}
		res.Items = append(res.Items, e)
	}
	if err := rows.Err(); err != nil {
		return res, dbError("list executions of "+flow, err)
	}
	if len(res.Items) > page.Limit {
		res.Items = res.Items[:page.Limit]
		res.NextToken = encodeToken(list, res.Items[page.Limit-1].ExecID)
	}
	return res, nil
}

// FinishExecution records o on a running execution in one transaction; an
// execution that already ended is returned as it is, finished=false.
// Errors: not_found, invalid_argument, payload_too_large.
func (s *Store) FinishExecution(ctx context.Context, project, execID string, o registry.Outcome) (registry.Execution, bool, error) {
	if err := o.Validate(); err != nil {
		return registry.Execution{}, false, err
	}
	if o.At.IsZero() {
		o.At = s.now()
	}
	var got registry.Execution
	finished := false
	err := s.write(ctx, "finish execution "+execID, func(tx *sql.Tx) error {
		cur, err := getExecution(ctx, tx, project, execID)
		if err != nil || cur.Status.Terminal() {
			got = cur
			return err
		}
		if err := o.CheckFits(cur); err != nil {
			return err
		}
		var execErr any
		if o.Error != nil {
			b, err := json.Marshal(o.Error)
			if err != nil {
				return fmt.Errorf("encode the error: %w", err)
			}
			execErr = string(b)
		}
		var result any
		if len(o.Result) > 0 {
			result = string(o.Result)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE executions SET status = ?, ended_at = ?, result = ?, result_ref = ?, error = ?
			WHERE project = ? AND exec_id = ? AND status = 'running'`,
			string(o.Status), nanos(o.At), result, nullString(o.ResultRef), execErr, project, execID); err != nil {
			return err
		}
		got, finished = cur.Finished(o), true
		return nil
	})
	if err != nil {
		return registry.Execution{}, false, err
	}
	return got, finished, nil
}

// RunningStartedBefore lists up to limit running executions of every
// project that started before the cutoff, oldest first: a range of the
// partial index executions_running. Errors: invalid_argument.
func (s *Store) RunningStartedBefore(ctx context.Context, before time.Time, limit int) ([]registry.Execution, error) {
	if limit < 1 {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "limit must be at least 1, not %d", limit)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT project, exec_id, flow, version, started_at FROM executions
		WHERE status = 'running' AND started_at < ? ORDER BY started_at, project, exec_id LIMIT ?`, nanos(before), limit)
	if err != nil {
		return nil, dbError("list running executions", err)
	}
	defer rows.Close()
	var found []registry.Execution
	for rows.Next() {
		e := registry.Execution{Status: registry.StatusRunning}
		var started int64
		if err := rows.Scan(&e.Project, &e.ExecID, &e.Flow, &e.Version, &started); err != nil {
			return nil, dbError("list running executions", err)
		}
		e.StartedAt = fromNanos(started)
		found = append(found, e)
	}
	return found, dbError("list running executions", rows.Err())
}

// ReapExecution finishes an execution RunningStartedBefore found with o,
// if it is still running (FinishExecution). The running index is the
// executions' own status, so there is nothing stale to forget.
func (s *Store) ReapExecution(ctx context.Context, found registry.Execution, o registry.Outcome) (registry.Execution, bool, error) {
	return s.FinishExecution(ctx, found.Project, found.ExecID, o)
}

// executionConditions appends the filter's SQL conditions to cond and args.
func executionConditions(f registry.ExecutionFilter, cond string, args []any) (string, []any) {
	if f.Version != 0 {
		cond, args = cond+" AND version = ?", append(args, f.Version)
	}
	if f.Tag != "" {
		cond, args = cond+" AND selector_tag = ?", append(args, f.Tag)
	}
	if f.Status != "" {
		cond, args = cond+" AND status = ?", append(args, string(f.Status))
	}
	switch {
	case f.Since.After(maxNanosTime):
		cond = cond + " AND 0" // past what started_at can hold: nothing started then
	case !f.Since.IsZero() && f.Since.After(minNanosTime):
		cond, args = cond+" AND started_at >= ?", append(args, nanos(f.Since))
	}
	return cond, args
}

// maxNanosTime and minNanosTime bound the times Unix nanoseconds (started_at) can hold.
var (
	maxNanosTime = time.Unix(0, math.MaxInt64).UTC()
	minNanosTime = time.Unix(0, math.MinInt64).UTC()
)
