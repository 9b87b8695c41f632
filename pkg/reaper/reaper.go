// Package reaper ends executions that can no longer finish: those still
// recorded running after the longest time the workflow can take. They were
// lost by whatever ran them (kitaru dev stopped or crashed mid-run, or an
// invoke function died between recording the execution and starting the
// state machine). Each is recorded failed with type Runner.Lost, under the
// same `status = running` condition as every finish, so a late finish and
// the reaper never both win. kitaru dev runs a Reaper at start and
// periodically; on AWS functions/reaper runs one pass on a schedule.
package reaper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// Store finds running executions and finishes them; *dynamo.Store is one.
type Store interface {
	// RunningStartedBefore lists up to limit executions still indexed as
	// running that started before the cutoff, of every project.
	// Errors: invalid_argument.
	RunningStartedBefore(ctx context.Context, before time.Time, limit int) ([]registry.Execution, error)
	// ReapExecution records o if the execution is still running and returns
	// the stored execution and whether o was recorded. Errors: invalid_argument.
	ReapExecution(ctx context.Context, found registry.Execution, o registry.Outcome) (registry.Execution, bool, error)
}

// Defaults of Reaper.
const (
	// Slack is added to the workflow's longest run before an execution
	// counts as lost: clock skew between functions, Step Functions' own
	// delays, and the time between recording and starting.
	Slack = 10 * time.Minute
	// DefaultBatch bounds the executions one pass reaps; the next pass
	// takes the rest.
	DefaultBatch = 500
)

// Deadline is how long after its start an execution of def counts as lost:
// the longest the workflow can take plus Slack (78 min 15 s for
// workflow.Default()).
func Deadline(def workflow.Definition) time.Duration { return def.MaxDuration() + Slack }

// Reaper ends lost executions.
type Reaper struct {
	Store Store
	// After is how long after its start a running execution counts as lost
	// (Deadline of the workflow); it must be positive.
	After time.Duration
	// Batch bounds one pass; zero is DefaultBatch.
	Batch int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger gets one line per reaped execution and per pass; nil discards.
	Logger *slog.Logger
	// RunObjects, when set, deletes each reaped execution's run object, as
	// its finish would have (workflow.RemovingRunObjects); a failed delete
	// is reported and left to the bucket's expiry, since a reaped execution
	// is not found again.
	RunObjects workflow.RunObjectRemover
}

// Report says what one pass did.
type Report struct {
	// Found is how many overdue executions the index named.
	Found int `json:"found"`
	// Reaped is how many of them this pass recorded failed (Runner.Lost);
	// the others had ended meanwhile.
	Reaped int `json:"reaped"`
}

// Reap runs one pass: it lists executions running for longer than After and
// records each failed with type Runner.Lost. A failure on one execution does
// not stop the others; the errors are joined. Errors: invalid_argument
// (After not positive), and the store's.
func (r *Reaper) Reap(ctx context.Context) (Report, error) {
	var rep Report
	if r.After <= 0 {
		return rep, registry.Errorf(registry.CodeInvalidArgument, "the reaper's deadline is %s; set a positive duration", r.After)
	}
	now := r.now()
	batch := r.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	found, err := r.Store.RunningStartedBefore(ctx, now.Add(-r.After), batch)
	if err != nil {
		return rep, fmt.Errorf("find lost executions: %w", err)
	}
	rep.Found = len(found)
	var errs []error
	for _, e := range found {
		o := registry.Outcome{Status: registry.StatusFailed, At: now, Error: &registry.ExecError{Type: workflow.ErrorRunnerLost, Message: lostMessage(e, now, r.After)}}
		got, reaped, err := r.Store.ReapExecution(ctx, e, o)
		if err != nil {
			errs = append(errs, fmt.Errorf("reap execution %s of %s: %w", e.ExecID, e.Project, err))
			continue
		}
		if reaped {
			rep.Reaped++
			r.logger().Info("reaped lost execution", "project", e.Project, "flow", e.Flow, "version", e.Version, "exec_id", e.ExecID, "started_at", e.StartedAt)
			if r.RunObjects != nil {
				if err := r.RunObjects.DeleteRunObject(ctx, e.Project, e.ExecID); err != nil {
					errs = append(errs, fmt.Errorf("reaped execution %s of %s: %w", e.ExecID, e.Project, err))
				}
			}
		} else {
			r.logger().Info("lost execution had ended", "project", e.Project, "exec_id", e.ExecID, "status", got.Status)
		}
	}
	r.logger().Info("reap pass", "found", rep.Found, "reaped", rep.Reaped, "errors", len(errs))
	return rep, errors.Join(errs...)
}

// lostMessage says what happened and what to do.
func lostMessage(e registry.Execution, now time.Time, after time.Duration) string {
	return fmt.Sprintf("the execution was still recorded running %s after it started, longer than any run can take (%s): "+
		"whatever ran it stopped without recording an outcome (kitaru dev was stopped or crashed, or the invoke function died before starting the run). "+
		"Its result is unknown: check what the flow changes, then invoke it again",
		now.Sub(e.StartedAt).Round(time.Second), after.Round(time.Second))
}

// Run reaps every interval until ctx ends; a failed pass is logged and the
// next one tries again. The caller runs the first pass itself when it must
// finish before something else starts (kitaru dev reaps before serving).
func (r *Reaper) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := r.Reap(ctx); err != nil && ctx.Err() == nil {
				r.logger().Error("reap pass failed", "error", err)
			}
		}
	}
}

// Handle serves functions/reaper: one pass per scheduled event (the event
// itself is not read). An error makes Lambda retry the invocation, which is
// safe: reaping is conditional.
func (r *Reaper) Handle(ctx context.Context, _ json.RawMessage) (Report, error) {
	return r.Reap(ctx)
}

func (r *Reaper) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reaper) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}
