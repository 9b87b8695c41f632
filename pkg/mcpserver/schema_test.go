package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
)

// nullableProperties are the result properties the API sends as null
// (api/openapi.yaml marks RouteChange.from and .to and
// FlowSummary.default_version nullable). Only these may have a
// {"type": "null"} branch.
var nullableProperties = map[string]bool{"from": true, "to": true, "default_version": true}

// anyValueProperties hold any JSON value (Execution.result, what the flow
// returned; a diff's changed values and parameter defaults): described, not
// constrained.
var anyValueProperties = map[string]bool{"result": true, "before": true, "after": true, "default_value": true}

// Keywords whose value is one schema, a map of schemas, or a list of them.
var (
	schemaKeywords      = []string{"additionalProperties", "items", "not", "contains", "propertyNames", "if", "then", "else", "unevaluatedProperties", "unevaluatedItems", "additionalItems", "contentSchema"}
	schemaMapKeywords   = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
	schemaListKeywords  = []string{"anyOf", "allOf", "oneOf", "prefixItems"}
	constrainingKeyword = []string{"type", "anyOf", "allOf", "oneOf", "enum", "const", "$ref", "not"}
	jsonTypes           = []string{"object", "array", "string", "number", "integer", "boolean", "null"}
)

// portabilityProblems walks a marshalled schema and lists what clients that
// map tool schemas onto a single-type dialect, or reject boolean schemas,
// would trip on. property is the name of the property node describes ("" at
// the root and below items), nullOK whether node is an anyOf branch of a
// property the API sends as null.
func portabilityProblems(node any, path, property string, nullOK bool) []string {
	s, ok := node.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: %s is not a schema object", path, raw(node))}
	}
	var problems []string
	_, described := s["description"]
	anyValue := anyValueProperties[property] && described
	if !anyValue && !slices.ContainsFunc(constrainingKeyword, func(k string) bool { _, ok := s[k]; return ok }) {
		problems = append(problems, fmt.Sprintf("%s: %s says nothing about the value (no type, anyOf, enum, const or $ref)", path, raw(s)))
	}
	if t, ok := s["type"]; ok {
		name, isString := t.(string)
		switch {
		case !isString:
			problems = append(problems, fmt.Sprintf("%s: type %s is not a single string", path, raw(t)))
		case !slices.Contains(jsonTypes, name):
			problems = append(problems, fmt.Sprintf("%s: type %q is not a JSON type", path, name))
		case name == "null" && !nullOK:
			problems = append(problems, fmt.Sprintf("%s: type null, but the API never sends null here", path))
		case name == "null" && len(s) != 1:
			problems = append(problems, fmt.Sprintf("%s: the null branch %s should be {\"type\": \"null\"} alone", path, raw(s)))
		case name == "object":
			problems = append(problems, objectProblems(s, path)...)
		case name == "array":
			if _, ok := s["items"]; !ok {
				problems = append(problems, fmt.Sprintf("%s: an array without items", path))
			}
		}
	}
	for _, k := range schemaKeywords {
		v, ok := s[k]
		if !ok {
			continue
		}
		if b, isBool := v.(bool); isBool {
			if k != "additionalProperties" || b {
				problems = append(problems, fmt.Sprintf("%s.%s: boolean schema %v", path, k, b))
			}
			continue
		}
		problems = append(problems, portabilityProblems(v, path+"."+k, "", false)...)
	}
	for _, k := range schemaMapKeywords {
		m, ok := s[k].(map[string]any)
		if _, present := s[k]; present && !ok {
			problems = append(problems, fmt.Sprintf("%s.%s: %s is not a map of schemas", path, k, raw(s[k])))
		}
		for _, name := range sortedKeys(m) {
			p := name
			if k != "properties" {
				p = ""
			}
			problems = append(problems, portabilityProblems(m[name], path+"."+k+"."+name, p, false)...)
		}
	}
	for _, k := range schemaListKeywords {
		l, ok := s[k].([]any)
		if _, present := s[k]; present && !ok {
			problems = append(problems, fmt.Sprintf("%s.%s: %s is not a list of schemas", path, k, raw(s[k])))
		}
		for i, sub := range l {
			problems = append(problems, portabilityProblems(sub, fmt.Sprintf("%s.%s[%d]", path, k, i), "", k == "anyOf" && nullableProperties[property])...)
		}
	}
	return problems
}

// objectProblems checks an object schema says what it holds: properties
// (every required one among them), additionalProperties, or at least a
// description of a free-form object.
func objectProblems(s map[string]any, path string) []string {
	props, hasProps := s["properties"].(map[string]any)
	_, hasAdditional := s["additionalProperties"]
	_, hasDescription := s["description"]
	var problems []string
	if !hasProps && !hasAdditional && !hasDescription {
		problems = append(problems, fmt.Sprintf("%s: an object with neither properties, additionalProperties nor a description of what it holds", path))
	}
	required, _ := s["required"].([]any)
	for _, r := range required {
		if name, _ := r.(string); props[name] == nil {
			problems = append(problems, fmt.Sprintf("%s: required %s is not among the properties", path, raw(r)))
		}
	}
	return problems
}

func raw(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestToolSchemasArePortable: every tool's input and output schema, as a
// client lists them, is made of schema objects with one type each, so
// clients that reject boolean schemas or type unions (the TypeScript SDK's
// Zod parsing, single-type dialects) take every tool.
func TestToolSchemasArePortable(t *testing.T) {
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) == 0 {
		t.Fatal("no tools listed")
	}
	for _, tool := range res.Tools {
		for _, c := range []struct {
			kind   string
			schema any
		}{{"input", tool.InputSchema}, {"output", tool.OutputSchema}} {
			t.Run(tool.Name+"'s "+c.kind+" schema is portable", func(t *testing.T) {
				var generic any
				if err := json.Unmarshal([]byte(raw(c.schema)), &generic); err != nil {
					t.Fatal(err)
				}
				if m, _ := generic.(map[string]any); m["type"] != "object" {
					t.Errorf("the root is %s, want an object schema", raw(generic))
				}
				for _, p := range portabilityProblems(generic, c.kind+"Schema", "", false) {
					t.Error(p)
				}
			})
		}
	}
}

// TestPortabilityCheckCatchesWhatClientsReject keeps the check honest: each
// schema here is one a client rejects or a single-type dialect cannot hold.
func TestPortabilityCheckCatchesWhatClientsReject(t *testing.T) {
	for _, c := range []struct {
		name   string
		schema string
	}{
		{"a bare true property is caught", `{"type": "object", "properties": {"inputs": true}}`},
		{"a type union is caught", `{"type": "object", "properties": {"tags": {"type": ["null", "object"], "additionalProperties": {"type": "boolean"}}}}`},
		{"a null branch on a property the API never sends as null is caught", `{"type": "object", "properties": {"error": {"anyOf": [{"type": "object", "description": "x"}, {"type": "null"}]}}}`},
		{"a schema with only a description is caught", `{"type": "object", "properties": {"inputs": {"description": "anything"}}}`},
		{"an empty schema is caught even where any value goes", `{"type": "object", "properties": {"result": {}}}`},
		{"additionalProperties true is caught", `{"type": "object", "additionalProperties": true}`},
		{"an array without items is caught", `{"type": "object", "properties": {"versions": {"type": "array"}}}`},
		{"a required property that is not there is caught", `{"type": "object", "properties": {}, "required": ["flow"]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var generic any
			if err := json.Unmarshal([]byte(c.schema), &generic); err != nil {
				t.Fatal(err)
			}
			if p := portabilityProblems(generic, "schema", "", false); len(p) == 0 {
				t.Errorf("%s passes", c.schema)
			}
		})
	}
	t.Run("a nullable property's null branch passes", func(t *testing.T) {
		var generic any
		_ = json.Unmarshal([]byte(`{"type": "object", "properties": {"to": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}, "required": ["to"], "additionalProperties": false}`), &generic)
		if p := portabilityProblems(generic, "schema", "", false); len(p) != 0 {
			t.Errorf("problems %v", p)
		}
	})
}

// TestNullablePropertiesAreTheOnesTheAPIDocuments: a tool result may carry
// null only where api/openapi.yaml says the API sends it (nullable: true),
// and any value only where the document gives no type.
func TestNullablePropertiesAreTheOnesTheAPIDocuments(t *testing.T) {
	text, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatalf("read the OpenAPI document: %v", err)
	}
	// A property is a "name:" line; its keywords are indented 2 more.
	property := regexp.MustCompile(`^(\s+)([a-z_]+):\s*$`)
	keyword := regexp.MustCompile(`^(\s+)(nullable: true|type: \S+|\$ref: \S+|allOf:|anyOf:|oneOf:)\s*$`)
	nullable, typed := map[string]bool{}, map[string]bool{}
	var names []string // by indent/2: the property open at that depth
	for _, line := range strings.Split(string(text), "\n") {
		if m := property.FindStringSubmatch(line); m != nil {
			depth := len(m[1]) / 2
			names = append(names[:min(depth, len(names))], make([]string, max(0, depth-len(names)))...)
			names = append(names, m[2])
			continue
		}
		if m := keyword.FindStringSubmatch(line); m != nil {
			depth := len(m[1])/2 - 1
			if depth < 0 || depth >= len(names) {
				continue
			}
			if m[2] == "nullable: true" {
				nullable[names[depth]] = true
			} else {
				typed[names[depth]] = true
			}
		}
	}
	for name := range nullableProperties {
		if !nullable[name] {
			t.Errorf("a tool result may have %s null, but api/openapi.yaml has no property %s with nullable: true", name, name)
		}
	}
	for name := range anyValueProperties {
		if typed[name] {
			t.Errorf("a tool result may have any value as %s, but api/openapi.yaml gives %s a type", name, name)
		}
	}
}
