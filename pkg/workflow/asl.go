package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Resources are what the state machine calls: Lambda function ARNs (or CDK
// tokens that resolve to them).
type Resources struct {
	// RunnerFunction runs the flow (functions/runner).
	RunnerFunction string
	// FinishFunction records the outcome (functions/finish).
	FinishFunction string
}

// lambdaInvoke is the Step Functions integration that invokes a function and
// waits for its answer; its result is {"Payload": answer, "StatusCode": …}.
const lambdaInvoke = "arn:aws:states:::lambda:invoke"

// ASL renders d as the Amazon States Language definition of a STANDARD state
// machine. The state machine's input is the RunRequest; Run keeps the runner's
// answer at $.output.Payload and a caught error at $.error ({Error, Cause});
// the record steps send {project, exec_id, output} or {project, exec_id,
// error} to the finish function (OutcomeFromRecord reads it).
func (d Definition) ASL(arns Resources) ([]byte, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if arns.RunnerFunction == "" || arns.FinishFunction == "" {
		return nil, errors.New("render the workflow: both the runner and the finish function ARN are required")
	}
	record := func(outcomeKey, outcomePath string) aslState {
		return aslState{
			Type:     "Task",
			Resource: lambdaInvoke,
			Parameters: map[string]any{
				"FunctionName": arns.FinishFunction,
				"Payload": map[string]string{
					"project.$":       "$.project",
					"exec_id.$":       "$.exec_id",
					outcomeKey + ".$": outcomePath,
				},
			},
			// Keep the state as it was: RecordFailure's successor reads $.error.
			ResultPath:     jsonNull,
			TimeoutSeconds: d.Record.TimeoutSeconds,
			Retry:          aslRetries(d.Record.Retry),
		}
	}
	success := record("output", "$.output.Payload")
	success.End = true
	failure := record("error", "$.error")
	failure.Next = StateFailed

	m := aslMachine{
		Comment: "Kitaru snapshot execution: run the flow, record how it ended (pkg/workflow).",
		StartAt: StateRun,
		States: map[string]aslState{
			StateRun: {
				Type:     "Task",
				Resource: lambdaInvoke,
				Parameters: map[string]any{
					"FunctionName": arns.RunnerFunction,
					"Payload.$":    "$",
				},
				ResultSelector: map[string]string{"Payload.$": "$.Payload"},
				ResultPath:     json.RawMessage(`"$.output"`),
				TimeoutSeconds: d.Run.TimeoutSeconds,
				Retry:          aslRetries(d.Run.Retry),
				Catch:          []aslCatch{{ErrorEquals: []string{ErrorAll}, ResultPath: "$.error", Next: StateRecordFailure}},
				Next:           StateRecordSuccess,
			},
			StateRecordSuccess: success,
			StateRecordFailure: failure,
			// The execution itself ends failed too, so the console and
			// DescribeExecution agree with the record.
			StateFailed: {Type: "Fail", ErrorPath: "$.error.Error", CausePath: "$.error.Cause"},
		},
	}
	return json.MarshalIndent(m, "", "  ")
}

// Validate reports a definition Step Functions would reject.
func (d Definition) Validate() error {
	for _, s := range []struct {
		name string
		step Step
	}{{StateRun, d.Run}, {"Record", d.Record}} {
		if s.step.TimeoutSeconds < 0 {
			return fmt.Errorf("workflow step %s: TimeoutSeconds %d is negative", s.name, s.step.TimeoutSeconds)
		}
		for i, r := range s.step.Retry {
			switch {
			case len(r.ErrorEquals) == 0:
				return fmt.Errorf("workflow step %s: retry %d names no errors", s.name, i)
			case slices.Contains(r.ErrorEquals, ErrorAll) && (len(r.ErrorEquals) > 1 || i != len(s.step.Retry)-1):
				return fmt.Errorf("workflow step %s: %s must be alone in the last retry", s.name, ErrorAll)
			case r.IntervalSeconds < 1:
				return fmt.Errorf("workflow step %s: retry %d IntervalSeconds must be at least 1", s.name, i)
			case r.MaxAttempts < 0:
				return fmt.Errorf("workflow step %s: retry %d MaxAttempts is negative", s.name, i)
			case r.BackoffRate < 1:
				return fmt.Errorf("workflow step %s: retry %d BackoffRate must be at least 1", s.name, i)
			case r.MaxDelaySeconds < 0:
				return fmt.Errorf("workflow step %s: retry %d MaxDelaySeconds is negative", s.name, i)
			case r.JitterStrategy != "" && r.JitterStrategy != JitterFull && r.JitterStrategy != "NONE":
				return fmt.Errorf("workflow step %s: retry %d JitterStrategy %q is not FULL or NONE", s.name, i, r.JitterStrategy)
			}
		}
	}
	return nil
}

var jsonNull = json.RawMessage("null")

type aslMachine struct {
	Comment string              `json:"Comment"`
	StartAt string              `json:"StartAt"`
	States  map[string]aslState `json:"States"`
}

type aslState struct {
	Type           string            `json:"Type"`
	Resource       string            `json:"Resource,omitempty"`
	Parameters     map[string]any    `json:"Parameters,omitempty"`
	ResultSelector map[string]string `json:"ResultSelector,omitempty"`
	ResultPath     json.RawMessage   `json:"ResultPath,omitempty"`
	TimeoutSeconds int               `json:"TimeoutSeconds,omitempty"`
	Retry          []aslRetry        `json:"Retry,omitempty"`
	Catch          []aslCatch        `json:"Catch,omitempty"`
	ErrorPath      string            `json:"ErrorPath,omitempty"`
	CausePath      string            `json:"CausePath,omitempty"`
	Next           string            `json:"Next,omitempty"`
	End            bool              `json:"End,omitempty"`
}

type aslRetry struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds int      `json:"IntervalSeconds"`
	MaxAttempts     int      `json:"MaxAttempts"`
	BackoffRate     float64  `json:"BackoffRate"`
	MaxDelaySeconds int      `json:"MaxDelaySeconds,omitempty"`
	JitterStrategy  string   `json:"JitterStrategy,omitempty"`
}

type aslCatch struct {
	ErrorEquals []string `json:"ErrorEquals"`
	ResultPath  string   `json:"ResultPath"`
	Next        string   `json:"Next"`
}

func aslRetries(rs []Retry) []aslRetry {
	out := make([]aslRetry, 0, len(rs))
	for _, r := range rs {
		out = append(out, aslRetry(r))
	}
	return out
}
