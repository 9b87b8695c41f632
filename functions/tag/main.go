// Command tag is the Lambda function serving the tag routes of the Kitaru API.
package main

import (
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
)

func main() { lambdaenv.Start(httpapi.GroupTag, lambdaenv.Services{}) }
