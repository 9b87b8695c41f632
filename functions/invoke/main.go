// Command invoke is the Lambda function serving invocations and executions
// (the invoke route group of pkg/httpapi).
package main

import (
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
	"github.com/kitaru/deployments/pkg/lambdaenv/s3env"
	"github.com/kitaru/deployments/pkg/lambdaenv/sfnenv"
)

func main() {
	lambdaenv.Start(httpapi.GroupInvoke, lambdaenv.Services{Blobs: s3env.NewBlobs, Executor: sfnenv.NewExecutor})
}
