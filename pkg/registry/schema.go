package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// InferInputSchema derives the input schema of a deployment that was given
// none: the deploy-time inputs' keys, each with its JSON type; no other keys.
func InferInputSchema(inputs json.RawMessage) (json.RawMessage, error) {
	var obj map[string]any
	if err := json.Unmarshal(inputs, &obj); err != nil {
		return nil, Errorf(CodeInvalidArgument, "inputs must be a JSON object")
	}
	props := map[string]any{}
	for k, v := range obj {
		switch v.(type) {
		case string:
			props[k] = map[string]any{"type": "string"}
		case float64:
			props[k] = map[string]any{"type": "number"}
		case bool:
			props[k] = map[string]any{"type": "boolean"}
		case []any:
			props[k] = map[string]any{"type": "array"}
		case map[string]any:
			props[k] = map[string]any{"type": "object"}
		default: // null: any value
			props[k] = map[string]any{}
		}
	}
	return json.Marshal(map[string]any{"type": "object", "properties": props, "additionalProperties": false})
}

// CompileInputSchema checks that schema is a usable JSON Schema.
func CompileInputSchema(schema json.RawMessage) (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "input_schema is not valid JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("inputs.json", doc); err != nil {
		return nil, Errorf(CodeInvalidArgument, "input_schema is not a JSON Schema: %v", err)
	}
	sch, err := c.Compile("inputs.json")
	if err != nil {
		return nil, Errorf(CodeInvalidArgument, "input_schema is not a valid JSON Schema: %v", err)
	}
	return sch, nil
}

var printer = message.NewPrinter(language.English)

// ValidateInputs checks merged inputs against a deployment's input schema.
// A violation is unprocessable and names the offending key.
func ValidateInputs(schema, inputs json.RawMessage) error {
	sch, err := CompileInputSchema(schema)
	if err != nil {
		return fmt.Errorf("deployment input schema: %w", err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(inputs))
	if err != nil {
		return Errorf(CodeInvalidArgument, "inputs are not valid JSON: %v", err)
	}
	err = sch.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var problems []string
	var keys []string
	for _, leaf := range leaves(ve) {
		key := strings.Join(leaf.InstanceLocation, ".")
		if ap, ok := leaf.ErrorKind.(*kind.AdditionalProperties); ok {
			for _, p := range ap.Properties {
				keys = append(keys, joinKey(key, p))
				problems = append(problems, fmt.Sprintf("unknown input %q", joinKey(key, p)))
			}
			continue
		}
		if key == "" {
			key = "(inputs)"
		}
		keys = append(keys, key)
		problems = append(problems, fmt.Sprintf("input %q: %s", key, leaf.ErrorKind.LocalizedString(printer)))
	}
	slices.Sort(keys)
	slices.Sort(problems)
	return Errorf(CodeUnprocessable, "inputs do not match the deployment's input schema: %s; check the flow's parameters with `kitaru flow deployments get`", strings.Join(problems, "; ")).
		WithDetails("keys", slices.Compact(keys))
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}
