// Command deploy is the Lambda function serving the deploy routes of the Kitaru API.
package main

import (
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
	"github.com/kitaru/deployments/pkg/lambdaenv/s3env"
)

func main() {
	lambdaenv.Start(httpapi.GroupDeploy, lambdaenv.Services{Blobs: s3env.NewBlobs})
}
