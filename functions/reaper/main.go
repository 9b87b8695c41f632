// Command reaper is the Lambda function an EventBridge schedule calls every
// few minutes: one pass of pkg/reaper, which records executions still
// running past the workflow's deadline as failed (Runner.Lost) and deletes
// their run objects.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kitaru/deployments/pkg/lambdaenv/runobjectenv"
	"github.com/kitaru/deployments/pkg/lambdaenv/storeenv"
	"github.com/kitaru/deployments/pkg/reaper"
	"github.com/kitaru/deployments/pkg/workflow"
)

func main() {
	store, logger := storeenv.Start("reaper")
	r := &reaper.Reaper{Store: store, After: reaper.Deadline(workflow.Default()), Logger: logger, RunObjects: runobjectenv.Start(logger)}
	lambda.Start(r.Handle)
}
