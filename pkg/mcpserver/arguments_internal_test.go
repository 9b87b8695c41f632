package mcpserver

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/kitaru/deployments/pkg/registry"
)

// TestArgumentCheckFallsBackOnTheSchema: a keyword the friendly checks do
// not cover is still refused here, with the envelope's code, rather than
// by the SDK with its own text.
func TestArgumentCheckFallsBackOnTheSchema(t *testing.T) {
	schema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
		"mode": {Type: "string", Enum: []any{"fast", "safe"}},
	}}
	resolved, err := schema.Resolve(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := argumentSchema{schema, resolved}
	t.Run("a value outside the enum is invalid_argument", func(t *testing.T) {
		err := a.check(json.RawMessage(`{"mode": "slow"}`))
		if registry.CodeOf(err) != registry.CodeInvalidArgument || !strings.Contains(err.Error(), "do not fit the tool's input schema") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a value in the enum passes", func(t *testing.T) {
		if err := a.check(json.RawMessage(`{"mode": "safe"}`)); err != nil {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no arguments pass when none is required", func(t *testing.T) {
		for _, raw := range []string{``, `null`, `{}`} {
			if err := a.check(json.RawMessage(raw)); err != nil {
				t.Errorf("%q: %v", raw, err)
			}
		}
	})
}
