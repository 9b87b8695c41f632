package workflow

// State names of the workflow, shared by the state machine and the local
// interpreter so both report the same step.
const (
	StateRun           = "Run"
	StateRecordSuccess = "RecordSuccess"
	StateRecordFailure = "RecordFailure"
	StateFailed        = "Failed"
)

// Error names that matter to the workflow. The Lambda ones are what Step
// Functions' lambda:invoke integration raises when Lambda itself, not the
// function, fails.
const (
	ErrorLambdaService         = "Lambda.ServiceException"
	ErrorLambdaAWS             = "Lambda.AWSLambdaException"
	ErrorLambdaSdkClient       = "Lambda.SdkClientException"
	ErrorLambdaTooManyRequests = "Lambda.TooManyRequestsException"
	// ErrorAll matches every error (Step Functions' wildcard).
	ErrorAll = "States.ALL"
	// ErrorTaskFailed matches every error a task raises except a timeout.
	ErrorTaskFailed = "States.TaskFailed"
	// ErrorTimeout is a step that ran longer than its TimeoutSeconds.
	ErrorTimeout = "States.Timeout"
	// ErrorRunnerCrashed is a runner that ended without answering: killed by
	// a signal, an unexpected exit status, or an answer that is not the
	// runner protocol.
	ErrorRunnerCrashed = "Runner.Crashed"
	// ErrorRunnerInterrupted is a local run that kitaru dev stopped because
	// it was shutting down.
	ErrorRunnerInterrupted = "Runner.Interrupted"
	// ErrorRunnerTimedOut is the Lambda runner's name for a flow it stopped
	// just before the function's timeout (so the flow's log is kept); it is
	// recorded as ErrorTimeout, which a function may not raise itself
	// (Step Functions reserves "States." names).
	ErrorRunnerTimedOut = "Runner.TimedOut"
	// ErrorRunnerUnavailable is a local runner process that could not be
	// started: the local counterpart of Lambda's service errors, retried by
	// the Run step when the RunError says Infrastructure.
	ErrorRunnerUnavailable = "Runner.Unavailable"
)

// InfrastructureErrors are the errors of the platform running the runner.
// Only these are retried: a flow's own exception may have had effects, so
// it is never run again on its own.
var InfrastructureErrors = []string{ErrorLambdaService, ErrorLambdaAWS, ErrorLambdaSdkClient, ErrorLambdaTooManyRequests}

// JitterFull spreads each retry delay uniformly between zero and the delay.
const JitterFull = "FULL"

// Definition describes a snapshot execution once: CDK renders it with ASL
// into the Step Functions state machine and Local interprets it in process.
//
//	Run ──ok──▶ RecordSuccess (end)
//	 └─any error (after retries)──▶ RecordFailure ──▶ Failed
type Definition struct {
	// Run invokes the runner with the RunRequest.
	Run Step
	// Record invokes the finish function (RecordSuccess and RecordFailure).
	Record Step
}

// Step is one task state: how long one attempt may take and which errors
// are tried again.
type Step struct {
	// TimeoutSeconds bounds one attempt; an attempt that takes longer fails
	// with States.Timeout. Zero means no limit of the workflow's own.
	TimeoutSeconds int
	// Retry is evaluated in order; the first policy naming the error applies.
	Retry []Retry
}

// Retry is one retry policy of a step (an ASL Retrier).
type Retry struct {
	ErrorEquals     []string
	IntervalSeconds int
	MaxAttempts     int
	BackoffRate     float64
	MaxDelaySeconds int
	JitterStrategy  string
}

// Default is the workflow every deployment runs: the runner gets 900 seconds
// (the Lambda maximum) and is tried again only when Lambda could not run it;
// recording is tried again on any error because it is idempotent.
func Default() Definition {
	return Definition{
		Run: Step{
			TimeoutSeconds: 900,
			Retry: []Retry{{
				ErrorEquals:     append([]string(nil), InfrastructureErrors...),
				IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2, MaxDelaySeconds: 30, JitterStrategy: JitterFull,
			}},
		},
		Record: Step{
			TimeoutSeconds: 60,
			Retry: []Retry{{
				ErrorEquals:     []string{ErrorAll},
				IntervalSeconds: 1, MaxAttempts: 6, BackoffRate: 2, MaxDelaySeconds: 30, JitterStrategy: JitterFull,
			}},
		},
	}
}
