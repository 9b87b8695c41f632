package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Record is what the state machine's record steps send the finish function:
// the runner's answer on success, the caught Step Functions error on failure.
type Record struct {
	Project string       `json:"project"`
	ExecID  string       `json:"exec_id"`
	Output  *RunOutput   `json:"output,omitempty"`
	Error   *StatesError `json:"error,omitempty"`
}

// RunOutput is the runner's successful answer: the result inline, or the
// key of the object it was uploaded to when its JSON is over 256 KiB.
type RunOutput struct {
	Result    json.RawMessage `json:"result,omitempty"`
	ResultRef string          `json:"result_ref,omitempty"`
}

// StatesError is a Step Functions error as a Catch records it.
type StatesError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// OutcomeFromRecord reads a record step's payload and says how the execution
// ended, at now. A runner answer with neither result nor result_ref is a
// Runner.Crashed failure, so the record never stays running. Errors:
// invalid_argument (not a record, or no project, exec_id, output or error).
func OutcomeFromRecord(payload []byte, now time.Time) (project, execID string, o registry.Outcome, err error) {
	var r Record
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&r); err != nil {
		return "", "", registry.Outcome{}, registry.Errorf(registry.CodeInvalidArgument,
			"the finish payload is not a JSON record {project, exec_id, output|error}: %v", err)
	}
	switch {
	case r.Project == "" || r.ExecID == "":
		return "", "", registry.Outcome{}, registry.Errorf(registry.CodeInvalidArgument,
			"the finish payload names no project or exec_id; the state machine must pass $.project and $.exec_id")
	case (r.Output == nil) == (r.Error == nil):
		return "", "", registry.Outcome{}, registry.Errorf(registry.CodeInvalidArgument,
			"the finish payload for execution %s must carry exactly one of output and error", r.ExecID)
	}
	if r.Error != nil {
		e := FailureFromStates(r.Error.Error, r.Error.Cause)
		return r.Project, r.ExecID, registry.Outcome{Status: registry.StatusFailed, Error: &e, At: now}, nil
	}
	return r.Project, r.ExecID, r.Output.Outcome(now), nil
}

// Outcome is how an execution ended when the runner answered a.
func (a RunOutput) Outcome(now time.Time) registry.Outcome {
	switch {
	case a.ResultRef != "":
		return registry.Outcome{Status: registry.StatusCompleted, ResultRef: a.ResultRef, At: now}
	case a.Result != nil:
		return registry.Outcome{Status: registry.StatusCompleted, Result: a.Result, At: now}
	}
	return registry.Outcome{Status: registry.StatusFailed, At: now, Error: &registry.ExecError{
		Type: ErrorRunnerCrashed, Message: "the runner answered without a result or result_ref; check the runner's logs",
	}}
}

// ExecutionFinisher is the part of registry.ExecutionStore that records how
// an execution ended.
type ExecutionFinisher interface {
	FinishExecution(ctx context.Context, project, execID string, o registry.Outcome) (registry.Execution, bool, error)
}

// StoreFinisher records outcomes in an execution store. An execution that
// already ended (a cancel that won the race) is left as it is. An outcome
// too large for the record (large inputs plus a large inline result) is
// recorded as failed instead, so the execution never stays running.
func StoreFinisher(store ExecutionFinisher) Finisher {
	return FinisherFunc(func(ctx context.Context, project, execID string, o registry.Outcome) error {
		_, _, err := store.FinishExecution(ctx, project, execID, o)
		if errors.Is(err, registry.ErrPayloadTooLarge) {
			o = registry.Outcome{Status: registry.StatusFailed, At: o.At, Error: &registry.ExecError{
				Type:    "ResultTooLarge",
				Message: "the flow's result and inputs together are too large to record; return a smaller result or write it to object storage and return its key",
			}}
			_, _, err = store.FinishExecution(ctx, project, execID, o)
		}
		return err
	})
}

// RunObjectRemover deletes an execution's run object (artifacts.Store is
// one).
type RunObjectRemover interface {
	// DeleteRunObject removes it; one already gone is not an error.
	// Errors: internal, unavailable.
	DeleteRunObject(ctx context.Context, project, execID string) error
}

// RemovingRunObjects records outcomes with f, then deletes the execution's
// run object: a record step runs when the run is over (its runner read the
// object at its start), so the secrets and upload URLs in it are kept no
// longer than the execution. Deleting after recording keeps a failed delete
// from losing the outcome; the error makes the record step try again, which
// records nothing twice (an ended execution is left as it is).
func RemovingRunObjects(f Finisher, objects RunObjectRemover) Finisher {
	return FinisherFunc(func(ctx context.Context, project, execID string, o registry.Outcome) error {
		if err := f.Finish(ctx, project, execID, o); err != nil {
			return err
		}
		return objects.DeleteRunObject(ctx, project, execID)
	})
}

// RecordHandler serves the finish function: the state machine's record steps
// send it a Record, it records the outcome. An error makes Step Functions
// retry the step.
type RecordHandler struct {
	Finisher Finisher
	// Now stamps outcomes; nil is time.Now.
	Now func() time.Time
	// Logger gets one line per record; nil discards.
	Logger *slog.Logger
	// RequestID names the invocation in logs (the Lambda request id); optional.
	RequestID func(ctx context.Context) string
}

// Handle records the outcome in payload. Errors: invalid_argument (not a
// Record), and whatever the Finisher returns.
func (h RecordHandler) Handle(ctx context.Context, payload json.RawMessage) error {
	start := time.Now()
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	project, execID, o, err := OutcomeFromRecord(payload, now())
	if err == nil {
		err = h.Finisher.Finish(ctx, project, execID, o)
	}
	if h.Logger != nil {
		attrs := []any{"project", project, "exec_id", execID, "status", o.Status, "duration", time.Since(start)}
		if h.RequestID != nil {
			attrs = append(attrs, "request_id", h.RequestID(ctx))
		}
		if o.Error != nil {
			attrs = append(attrs, "error_type", o.Error.Type)
		}
		if err != nil {
			h.Logger.Error("record failed", append(attrs, "error", err)...)
		} else {
			h.Logger.Info("recorded", attrs...)
		}
	}
	if err != nil {
		return fmt.Errorf("record execution %s: %w", execID, err)
	}
	return nil
}

// ErrorRunnerLost is an execution the reaper ended: it was still recorded
// running after the longest time the workflow can take, so whatever ran it
// (kitaru dev, or an invoke function that died before starting the state
// machine) stopped without recording an outcome.
const ErrorRunnerLost = "Runner.Lost"

// MaxDuration is the longest a run of d can take from its start until its
// outcome is recorded: every attempt of the Run step at its timeout with
// the longest retry delays, then every attempt of the record step likewise.
// It is an upper bound (a step is retried by one policy, it counts them
// all). It is 0 when a step has no timeout, which bounds nothing.
func (d Definition) MaxDuration() time.Duration {
	run, record := d.Run.maxDuration(), d.Record.maxDuration()
	if run == 0 || record == 0 {
		return 0
	}
	return run + record
}

func (s Step) maxDuration() time.Duration {
	if s.TimeoutSeconds <= 0 {
		return 0
	}
	attempts, delays := 1, 0.0
	for _, r := range s.Retry {
		attempts += r.MaxAttempts
		delay := float64(r.IntervalSeconds)
		for range r.MaxAttempts {
			d := delay
			if r.MaxDelaySeconds > 0 && d > float64(r.MaxDelaySeconds) {
				d = float64(r.MaxDelaySeconds)
			}
			delays += d
			delay *= max(r.BackoffRate, 1)
		}
	}
	return time.Duration(attempts*s.TimeoutSeconds)*time.Second + time.Duration(delays*float64(time.Second))
}
