// Package sfn runs snapshot executions on AWS Step Functions: one execution
// of the workflow's state machine per Kitaru execution, named after it.
package sfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	stepfunctions "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// Executor starts, stops and describes executions of one STANDARD state
// machine rendered from workflow.Definition.ASL.
type Executor struct {
	Client *stepfunctions.Client
	// StateMachineARN is arn:<partition>:states:<region>:<account>:stateMachine:<name>.
	StateMachineARN string
	// StartRetry is how Start retries a throttled StartExecution; the zero
	// value is DefaultStartRetry.
	StartRetry StartRetry
	// WrapStartRetryer, when set, wraps the retryer built from StartRetry:
	// the throttling simulator (pkg/throttle) makes its waits virtual with
	// it. Nil in the functions.
	WrapStartRetryer func(aws.Retryer) aws.Retryer

	retryerOnce sync.Once
	retryer     aws.Retryer // built from StartRetry once, so its retry quota lasts across calls
}

var _ workflow.Executor = (*Executor)(nil)

// isExecName reports whether s can name a Step Functions execution: 1 to 80
// ASCII letters, digits, '_' or '-' (Kitaru's are ex_ + ULID). It is checked
// by hand: the regexp [A-Za-z0-9_-]{1,80} compiles to some 1,000
// allocations, which a package-level MustCompile spends at every cold start.
func isExecName(s string) bool {
	if len(s) < 1 || len(s) > 80 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Start starts the state machine with req as its input, named req.ExecID, so
// a retried start cannot run the flow twice: ExecutionAlreadyExists is
// success. A throttled start is retried (StartRetry). Errors:
// invalid_argument (an exec_id that is not a valid name), rate_limited
// (still throttled after the retries, or the account's open executions are
// at their quota: nothing started), unavailable (Step Functions refused or
// could not be reached).
func (e *Executor) Start(ctx context.Context, req workflow.RunRequest) error {
	if err := validName(req.ExecID); err != nil {
		return err
	}
	if len(req.Env) > 0 {
		// Env is never encoded: the run would silently lack its secrets.
		return fmt.Errorf("the run request of %s holds secrets in process, which Step Functions cannot carry; set invoke.Service.SecretsByReference and RunObjects", req.ExecID)
	}
	input, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encode the run request for %s: %w", req.ExecID, err)
	}
	_, err = e.Client.StartExecution(ctx, &stepfunctions.StartExecutionInput{
		StateMachineArn: aws.String(e.StateMachineARN),
		Name:            aws.String(req.ExecID),
		Input:           aws.String(string(input)),
	}, func(o *stepfunctions.Options) { o.Retryer = e.startRetryer() })
	if _, exists := errors.AsType[*types.ExecutionAlreadyExists](err); exists {
		return nil
	}
	if limited, ok := rateLimited(err); ok {
		return fmt.Errorf("start execution %s: %w", req.ExecID, limited)
	}
	if err != nil {
		return unavailable(fmt.Errorf("start execution %s: %w", req.ExecID, err), "start")
	}
	return nil
}

func (e *Executor) startRetryer() aws.Retryer {
	e.retryerOnce.Do(func() {
		r := e.StartRetry
		if r.MaxAttempts == 0 {
			r = DefaultStartRetry
		}
		e.retryer = r.newRetryer()
		if e.WrapStartRetryer != nil {
			e.retryer = e.WrapStartRetryer(e.retryer)
		}
	})
	return e.retryer
}

// Stop stops the execution named execID. One that already ended or never
// started is not an error: the caller recorded the cancel either way.
// Errors: invalid_argument, unavailable.
func (e *Executor) Stop(ctx context.Context, project, execID string) error {
	arn, err := e.ExecutionARN(execID)
	if err != nil {
		return err
	}
	_, err = e.Client.StopExecution(ctx, &stepfunctions.StopExecutionInput{
		ExecutionArn: aws.String(arn),
		Cause:        aws.String("cancelled through the Kitaru API"),
	})
	if _, gone := errors.AsType[*types.ExecutionDoesNotExist](err); gone || err == nil {
		return nil
	}
	// Some ends are reported as a validation error; the execution's status
	// says whether anything is left to stop.
	if status, derr := e.Describe(ctx, execID); derr == nil && status.Terminal() {
		return nil
	}
	return unavailable(fmt.Errorf("stop execution %s: %w", execID, err), "stop")
}

// Describe returns where the execution named execID is, in Kitaru's terms:
// RUNNING and PENDING_REDRIVE are running, SUCCEEDED completed, FAILED and
// TIMED_OUT failed, ABORTED cancelled. Errors: invalid_argument, not_found,
// unavailable.
func (e *Executor) Describe(ctx context.Context, execID string) (registry.ExecStatus, error) {
	arn, err := e.ExecutionARN(execID)
	if err != nil {
		return "", err
	}
	out, err := e.Client.DescribeExecution(ctx, &stepfunctions.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	if _, gone := errors.AsType[*types.ExecutionDoesNotExist](err); gone {
		return "", registry.Errorf(registry.CodeNotFound, "Step Functions has no execution %s; it was never started or its history expired", execID).
			WithDetails("exec_id", execID)
	}
	if err != nil {
		return "", unavailable(fmt.Errorf("describe execution %s: %w", execID, err), "describe")
	}
	switch out.Status {
	case types.ExecutionStatusSucceeded:
		return registry.StatusCompleted, nil
	case types.ExecutionStatusFailed, types.ExecutionStatusTimedOut:
		return registry.StatusFailed, nil
	case types.ExecutionStatusAborted:
		return registry.StatusCancelled, nil
	default:
		return registry.StatusRunning, nil
	}
}

// ExecutionARN is the ARN of the execution named execID of this state
// machine: …:stateMachine:NAME becomes …:execution:NAME:EXECNAME.
// Errors: invalid_argument.
func (e *Executor) ExecutionARN(execID string) (string, error) {
	if err := validName(execID); err != nil {
		return "", err
	}
	parts := strings.Split(e.StateMachineARN, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[6] == "" {
		return "", fmt.Errorf("state machine ARN %q is not arn:<partition>:states:<region>:<account>:stateMachine:<name>; check KITARU_STATE_MACHINE_ARN", e.StateMachineARN)
	}
	parts[5] = "execution"
	return strings.Join(append(parts, execID), ":"), nil
}

func validName(execID string) error {
	if !isExecName(execID) {
		return registry.Errorf(registry.CodeInvalidArgument,
			"execution id %q cannot name a Step Functions execution: use 1 to 80 letters, digits, '_' or '-'", execID).
			WithDetails("exec_id", execID)
	}
	return nil
}

// unavailable keeps the cause for logs while the user sees what to do.
func unavailable(cause error, op string) error {
	return errors.Join(cause, registry.Errorf(registry.CodeUnavailable,
		"Step Functions could not %s the execution; try again shortly", op))
}
