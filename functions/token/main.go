// Command token serves POST /v1/auth/token and GET /v1/status (the auth route group).
package main

import (
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
)

func main() { lambdaenv.Start(httpapi.GroupAuth, lambdaenv.Services{}) }
