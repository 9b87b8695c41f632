package registry_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

func TestInputSchema(t *testing.T) {
	inferred, err := registry.InferInputSchema(json.RawMessage(`{"topic": "durable execution", "depth": 2, "tags": ["a"], "opts": null}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, schema, inputs string
		code                 registry.Code
		mentions             string
	}{
		{"inputs matching the inferred types pass", string(inferred), `{"topic": "x", "depth": 3.5, "tags": [], "opts": {"k": 1}}`, "", ""},
		{"an unknown key is refused naming it", string(inferred), `{"topic": "x", "tpoic": "y"}`, registry.CodeUnprocessable, `"tpoic"`},
		{"a wrong type is refused naming the key", string(inferred), `{"topic": 5}`, registry.CodeUnprocessable, `"topic"`},
		{"a given schema's required key is enforced", `{"type":"object","required":["topic"],"properties":{"topic":{"type":"string"}}}`, `{}`, registry.CodeUnprocessable, "topic"},
		{"a given schema's nested types are enforced", `{"type":"object","properties":{"opts":{"type":"object","properties":{"n":{"type":"integer"}}}}}`, `{"opts":{"n":"x"}}`, registry.CodeUnprocessable, `"opts.n"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := registry.ValidateInputs(json.RawMessage(tt.schema), json.RawMessage(tt.inputs))
			if codeOf(err) != tt.code {
				t.Fatalf("got %v, want %q", err, tt.code)
			}
			if tt.mentions != "" && !strings.Contains(err.Error(), tt.mentions) {
				t.Fatalf("%q does not mention %s", err, tt.mentions)
			}
		})
	}
	t.Run("a schema that is not a JSON Schema is refused at deploy", func(t *testing.T) {
		if _, err := registry.CompileInputSchema(json.RawMessage(`{"type": 7}`)); codeOf(err) != registry.CodeInvalidArgument {
			t.Fatalf("got %v", err)
		}
	})
}
