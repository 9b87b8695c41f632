//go:build unix

package pyrunner_test

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
)

func TestAFlowGetsItsRunsSecretsAndNothingElseFromTheServer(t *testing.T) {
	t.Setenv("AWS_SECRET_ACCESS_KEY", "server-secret")
	t.Setenv("KITARU_SIGNING_SECRET", "server-signing")
	r := realRunner(t)
	req := bundleRequest(t, map[string]string{"flows/env.py": `
import os

def env():
    return {"env": dict(os.environ)}
`}, "flows/env.py:env", `{}`)
	withSecrets := req
	withSecrets.Env = map[string]string{"OPENAI_API_KEY": "sk-run-one", "MULTI_LINE": "a=b\nc d"}
	if stdin, _ := json.Marshal(withSecrets); strings.Contains(string(stdin), "sk-run-one") {
		t.Fatalf("the run request's encoding holds a secret: %s", stdin)
	}
	t.Run("the run that has secrets sees them with their exact values", func(t *testing.T) {
		var got struct{ Env map[string]string }
		result(t, r, withSecrets, &got)
		for name, want := range withSecrets.Env {
			if got.Env[name] != want {
				t.Errorf("%s = %q; want %q", name, got.Env[name], want)
			}
		}
		for name := range got.Env {
			if !slices.Contains(pyrunner.Environment, name) && withSecrets.Env[name] == "" {
				t.Errorf("the flow got %s, which is neither documented nor one of its secrets", name)
			}
		}
	})
	t.Run("the next run, on the same warm runner, has none of them", func(t *testing.T) {
		var got struct{ Env map[string]string }
		result(t, r, req, &got)
		for name := range got.Env {
			if !slices.Contains(pyrunner.Environment, name) {
				t.Errorf("a run without secrets got %s (secrets of the run before: %v)", name, slices.Sorted(maps.Keys(withSecrets.Env)))
			}
		}
	})
}
