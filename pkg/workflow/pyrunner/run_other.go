//go:build !unix

package pyrunner

import (
	"context"
	"runtime"

	"github.com/kitaru/deployments/pkg/workflow"
)

// unsupported is every run's failure here: flows need a Unix process model
// (sessions, process groups, signals) that this package only has on Unix.
// Not marked Infrastructure: trying again cannot help, so the execution
// fails at once with the next step in its message.
func unsupported() *workflow.RunError {
	return &workflow.RunError{
		Type: workflow.ErrorRunnerUnavailable,
		Message: "running flows locally needs Linux or macOS, and this is " + runtime.GOOS +
			"; run kitaru dev under WSL, or deploy to the AWS stack and invoke there (docs/dev-runner.md)",
	}
}

// Run fails: flows run on Unix only (docs/dev-runner.md). Everything else of
// kitaru dev (deploys, tags, routes, keys) works without it.
func (Runner) Run(context.Context, workflow.RunRequest) (workflow.RunOutput, error) {
	return workflow.RunOutput{}, unsupported()
}

// Isolated is false: flows do not run here at all.
func (Runner) Isolated() bool { return false }

// Start does nothing: flows do not run here.
func (Runner) Start() error { return nil }

// Close does nothing: flows do not run here.
func (Runner) Close() {}

// Warm is false: flows do not run here.
func (Runner) Warm() bool { return false }
