// Command renderasl prints the workflow's state machine definition
// (pkg/workflow) with the runner's and the finish function's ARNs, as the
// CDK stack renders it; scripts/awslocal's tests run it on moto.
package main

import (
	"fmt"
	"os"

	"github.com/kitaru/deployments/pkg/workflow"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/renderasl RUNNER_ARN FINISH_ARN")
		os.Exit(2)
	}
	b, err := workflow.Default().ASL(workflow.Resources{RunnerFunction: os.Args[1], FinishFunction: os.Args[2]})
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	_, _ = os.Stdout.Write(b)
}
