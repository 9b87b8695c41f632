package registry_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// TestTheFirstSchemasCompileConcurrently runs, in a fresh process where no
// schema has compiled yet, eight compiles at once: each gets a working
// schema, and under -race the first use of what our package builds lazily
// (the message printer) is free of data races.
func TestTheFirstSchemasCompileConcurrently(t *testing.T) {
	if os.Getenv("KITARU_FIRST_COMPILE_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTheFirstSchemasCompileConcurrently$", "-test.count=1")
		cmd.Env = append(os.Environ(), "KITARU_FIRST_COMPILE_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the fresh process failed: %v\n%s", err, out)
		}
		return
	}
	schema := json.RawMessage(`{"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"], "additionalProperties": false}`)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			sch, err := registry.CompileInputSchema(schema)
			if err == nil {
				err = sch.Validate(json.RawMessage(`{"topic": "go"}`))
			}
			if err == nil && sch.Validate(json.RawMessage(`{"topic": 7}`)) == nil {
				err = errString("a number passed as the string topic")
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("compile %d: %v", i, err)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }
