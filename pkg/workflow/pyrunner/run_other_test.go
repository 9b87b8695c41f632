//go:build !unix

package pyrunner_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/workflow"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

func TestARunOutsideUnixFailsAtOnceAndSaysWhereFlowsRun(t *testing.T) {
	_, err := pyrunner.Runner{Dir: t.TempDir()}.Run(context.Background(), workflow.RunRequest{Project: "p", ExecID: "ex_1"})
	re, ok := errors.AsType[*workflow.RunError](err)
	if !ok {
		t.Fatalf("err = %v, want a RunError", err)
	}
	if re.Type != workflow.ErrorRunnerUnavailable || re.Infrastructure {
		t.Errorf("error %+v, want Runner.Unavailable that is not retried", re)
	}
	for _, s := range []string{"Linux or macOS", "WSL", "AWS stack"} {
		if !strings.Contains(re.Message, s) {
			t.Errorf("message %q does not mention %q", re.Message, s)
		}
	}
}
