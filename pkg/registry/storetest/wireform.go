package storetest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// testAnswersHaveTheirWireForm: what a store answers goes to clients as it
// is (the API encodes it without a rewrite, see pkg/registry/wire.go), so
// lists are never null and an execution's inputs are always an object, as
// api/openapi.yaml documents them. Empty answers are where a nil slips in.
func testAnswersHaveTheirWireForm(t *testing.T, f *fixture) {
	deploy(t, f, "wired", "", false)
	noInputs := runningExec(project, "wired", "")
	noInputs.Inputs = nil
	created, _, err := f.store.CreateExecution(ctx, noInputs)
	if err != nil {
		t.Fatal(err)
	}
	answers := map[string]func() (any, error){
		"flows of a project without any": func() (any, error) {
			return f.store.ListFlows(ctx, "p_empty", registry.PageRequest{})
		},
		"history of a tag never used": func() (any, error) {
			return f.store.TagHistory(ctx, project, "wired", "never_used", registry.PageRequest{})
		},
		"executions of a flow without any": func() (any, error) {
			return f.store.ListExecutions(ctx, project, "never_invoked", registry.PageRequest{})
		},
		"executions filtered to nothing": func() (any, error) {
			return f.store.ListExecutionsBy(ctx, project, "wired", registry.ExecutionFilter{Version: 99}, registry.PageRequest{})
		},
		"an execution created without inputs": func() (any, error) { return created, nil },
		"that execution read back": func() (any, error) {
			return f.store.GetExecution(ctx, project, created.ExecID)
		},
		"that execution listed": func() (any, error) {
			return f.store.ListExecutions(ctx, project, "wired", registry.PageRequest{})
		},
	}
	for name, answer := range answers {
		t.Run(name, func(t *testing.T) {
			v, err := answer()
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, field := range []string{`"items":null`, `"inputs":null`, `"inputs":""`} {
				if strings.Contains(string(b), field) {
					t.Errorf("%s: sends %s", b, field)
				}
			}
			if strings.Contains(name, "without inputs") || strings.Contains(name, "that execution") {
				if !strings.Contains(string(b), `"inputs":{}`) {
					t.Errorf("%s: inputs are not {}", b)
				}
			}
		})
	}
}
