// Command reaper is the Lambda function an EventBridge schedule calls every
// few minutes: one pass of pkg/reaper, which records executions still
// running past the workflow's deadline as failed (Runner.Lost).
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kitaru/deployments/pkg/lambdaenv"
	"github.com/kitaru/deployments/pkg/reaper"
	"github.com/kitaru/deployments/pkg/workflow"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", "reaper")
	env, err := lambdaenv.ReadStore(os.Getenv)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	store, err := lambdaenv.NewStore(context.Background(), env)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	r := &reaper.Reaper{Store: store, After: reaper.Deadline(workflow.Default()), Logger: logger}
	lambda.Start(r.Handle)
}
