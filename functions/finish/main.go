// Command finish is the Lambda function the state machine's record steps
// call: it records how an execution ended (pkg/workflow.RecordHandler).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/kitaru/deployments/pkg/lambdaenv/storeenv"
	"github.com/kitaru/deployments/pkg/workflow"
)

func main() {
	store, logger := storeenv.Start("finish")
	h := workflow.RecordHandler{Finisher: workflow.StoreFinisher(store), Logger: logger, RequestID: requestID}
	lambda.Start(h.Handle)
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
