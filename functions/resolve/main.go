// Command resolve is the Lambda function serving the resolve routes of the Kitaru API.
package main

import (
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
)

func main() { lambdaenv.Start(httpapi.GroupResolve, lambdaenv.Services{}) }
