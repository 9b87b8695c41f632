// Command invoke is the Lambda function serving invocations and executions
// (the invoke route group of pkg/httpapi).
package main

import (
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
)

func main() { lambdaenv.Start(httpapi.GroupInvoke) }
