// Package sfnenv builds the Step Functions adapter of the Lambda function
// that starts runs (invoke). It is apart from lambdaenv so that the other
// functions do not link the Step Functions client.
package sfnenv

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/kitaru/deployments/pkg/lambdaenv"
	sfnexec "github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/workflow"
)

var _ = lambdaenv.Services{Executor: NewExecutor}

// NewExecutor builds the executor on the state machine env names
// (KITARU_STATE_MACHINE_ARN, STEPFUNCTIONS_ENDPOINT).
func NewExecutor(cfg aws.Config, env lambdaenv.Env) (workflow.Executor, error) {
	if env.StateMachineARN == "" {
		return nil, fmt.Errorf("KITARU_STATE_MACHINE_ARN is not set; set it to the snapshot-execution state machine")
	}
	client := sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		if env.StepFunctionsEndpoint != "" {
			o.BaseEndpoint = aws.String(env.StepFunctionsEndpoint)
		}
	})
	return &sfnexec.Executor{Client: client, StateMachineARN: env.StateMachineARN}, nil
}
