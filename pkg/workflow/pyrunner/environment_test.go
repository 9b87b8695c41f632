package pyrunner_test

import (
	"regexp"
	"slices"
	"testing"

	"github.com/kitaru/deployments/functions/runner"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

// The Lambda runner gives a flow's process the same documented environment
// as kitaru dev does (docs/secrets.md, "What a run's process sees").
func TestTheLambdaRunnerGivesFlowsTheSameEnvironmentAsKitaruDev(t *testing.T) {
	block := regexp.MustCompile(`(?s)\nFLOW_ENVIRONMENT = \((.*?)\)\n`).FindSubmatch(runner.Source)
	if block == nil {
		t.Fatal("runner.py defines no FLOW_ENVIRONMENT = (...)")
	}
	var names []string
	for _, m := range regexp.MustCompile(`"([A-Z_]+)"`).FindAllSubmatch(block[1], -1) {
		names = append(names, string(m[1]))
	}
	if !slices.Equal(names, pyrunner.Environment) {
		t.Errorf("runner.py FLOW_ENVIRONMENT = %v; pyrunner.Environment = %v", names, pyrunner.Environment)
	}
}
