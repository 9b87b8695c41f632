// Command authorizer is the API Gateway REST REQUEST authorizer: API keys and
// tokens in Authorization, the project in X-Kitaru-Project.
package main

import "github.com/kitaru/deployments/pkg/lambdaenv"

func main() { lambdaenv.StartAuthorizer() }
