// Command finish is the Lambda function the state machine's record steps
// call: it records how an execution ended (pkg/workflow.RecordHandler) and
// deletes the execution's run object.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/kitaru/deployments/pkg/lambdaenv/runobjectenv"
	"github.com/kitaru/deployments/pkg/lambdaenv/storeenv"
	"github.com/kitaru/deployments/pkg/workflow"
)

func main() {
	store, logger := storeenv.Start("finish")
	finisher := workflow.RemovingRunObjects(workflow.StoreFinisher(store), runobjectenv.Start(logger))
	h := workflow.RecordHandler{Finisher: finisher, Logger: logger, RequestID: requestID}
	lambda.Start(h.Handle)
}

func requestID(ctx context.Context) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}
