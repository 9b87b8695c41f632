package registry_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

func TestInputSchema(t *testing.T) {
	const closed = `{"type": "object", "properties": {"topic": {"type": "string"}, "depth": {"type": "number"}}, "additionalProperties": false}`
	const required = `{"type": "object", "required": ["topic", "depth"], "properties": {"topic": {"type": "string"}, "depth": {"type": "integer"}, "opts": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}}`
	tests := []struct {
		name, schema, inputs string
		code                 registry.Code
		keys                 []string
	}{
		{"inputs matching the schema pass", closed, `{"topic": "x", "depth": 3.5}`, "", nil},
		{"an unknown key is refused naming it", closed, `{"topic": "x", "tpoic": "y"}`, registry.CodeUnprocessable, []string{"tpoic"}},
		{"a wrong type is refused naming the key", closed, `{"topic": 5}`, registry.CodeUnprocessable, []string{"topic"}},
		{"a missing required input is refused naming it", required, `{"topic": "x"}`, registry.CodeUnprocessable, []string{"depth"}},
		{"every missing required input is named", required, `{}`, registry.CodeUnprocessable, []string{"depth", "topic"}},
		{"a nested missing required input is named by its path", required, `{"topic": "x", "depth": 1, "opts": {}}`, registry.CodeUnprocessable, []string{"opts.n"}},
		{"nested types are enforced", required, `{"topic": "x", "depth": 1, "opts": {"n": "x"}}`, registry.CodeUnprocessable, []string{"opts.n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateInputs(json.RawMessage(tt.schema), json.RawMessage(tt.inputs))
			checkKeys(t, err, tt.code, tt.keys)
		})
	}
	t.Run("a schema that is not a JSON Schema is refused at deploy", func(t *testing.T) {
		if _, err := registry.CompileInputSchema(json.RawMessage(`{"type": 7}`)); codeOf(err) != registry.CodeInvalidArgument {
			t.Fatalf("got %v", err)
		}
	})
}

// TestDeployInputsFitTheSchema: at deploy the inputs are defaults, so a
// top-level required input may be missing (the invoker supplies it), but an
// unknown key, a wrong type, or a nested required key inside a given value
// are refused naming them.
func TestDeployInputsFitTheSchema(t *testing.T) {
	const schema = `{"type": "object", "required": ["name", "n"], "additionalProperties": false,` +
		` "properties": {"name": {"type": "string"}, "n": {"type": "integer"}, "opts": {"type": "object", "required": ["k"]}},` +
		` "anyOf": [{"required": ["name"]}, {"required": ["n"]}]}`
	tests := []struct {
		name, inputs string
		code         registry.Code
		keys         []string
	}{
		{"no inputs at all pass: the invoker supplies the required ones", `{}`, "", nil},
		{"some required inputs pass", `{"n": 2}`, "", nil},
		{"an unknown key is refused naming it", `{"name": "bob", "nmae": "x"}`, registry.CodeUnprocessable, []string{"nmae"}},
		{"a wrong type is refused naming the key", `{"n": "two"}`, registry.CodeUnprocessable, []string{"n"}},
		{"a nested required key of a given value is refused naming it", `{"opts": {}}`, registry.CodeUnprocessable, []string{"opts.k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registry.DeployRequest{Project: "p", Flow: "greet", Entrypoint: "flows/greet.py:greet",
				Inputs: json.RawMessage(tt.inputs), InputSchema: json.RawMessage(schema)}
			checkKeys(t, r.Normalize(), tt.code, tt.keys)
		})
	}
	t.Run("without a schema any object passes and none is made up", func(t *testing.T) {
		for _, given := range []string{"", "null", " "} {
			r := registry.DeployRequest{Project: "p", Flow: "greet", Entrypoint: "flows/greet.py:greet",
				Inputs: json.RawMessage(`{"anything": [1, {"x": null}]}`), InputSchema: json.RawMessage(given)}
			if err := r.Normalize(); err != nil {
				t.Fatalf("input_schema %q: %v", given, err)
			}
			if r.InputSchema != nil {
				t.Fatalf("input_schema %q became %s, want none", given, r.InputSchema)
			}
		}
	})
}

// checkKeys asserts err has code and, when it is an error, names exactly keys.
func checkKeys(t *testing.T, err error, code registry.Code, keys []string) {
	t.Helper()
	if codeOf(err) != code {
		t.Fatalf("got %v, want %q", err, code)
	}
	if err == nil {
		return
	}
	var e *registry.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v is not a registry error", err)
	}
	if diff := cmp.Diff(keys, e.Details["keys"]); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	for _, k := range keys {
		if !strings.Contains(err.Error(), strconv.Quote(k)) {
			t.Errorf("%q does not name %q", err, k)
		}
	}
}

// TestInputSchemaRefsStayInTheDocument: an input_schema may only refer into
// itself. A ref to a file or a URL is refused naming the ref, without the
// server reading the file or fetching the URL, and the refusal says nothing
// about whether the file exists.
func TestInputSchemaRefsStayInTheDocument(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // where relative refs resolved when the file loader was on
	secret := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"const": "TOPSECRET-7f3a"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Write([]byte(`{"const": "TOPSECRET-7f3a"}`))
	}))
	defer srv.Close()

	refs := []string{
		"secret.json",
		"file://" + secret,
		"file:///etc/passwd",
		"file://" + filepath.Join(dir, "missing.json"),
		srv.URL + "/schema.json",
		"./secret.json#/const",
		"//example.invalid/x.json",
	}
	for _, ref := range refs {
		schemas := map[string]string{
			"a top-level $ref":            `{"$ref": %q}`,
			"a nested $ref":               `{"type": "object", "properties": {"topic": {"$ref": %q}}}`,
			"a $ref under $defs":          `{"$defs": {"a": {"$ref": %q}}, "properties": {"topic": {"$ref": "#/$defs/a"}}}`,
			"a $schema naming a document": `{"$schema": %q, "type": "object"}`,
		}
		for shape, format := range schemas {
			schema := fmt.Sprintf(format, ref)
			t.Run(shape+" to "+ref+" is refused", func(t *testing.T) {
				_, err := registry.CompileInputSchema(json.RawMessage(schema))
				if codeOf(err) != registry.CodeInvalidArgument {
					t.Fatalf("got %v, want invalid_argument", err)
				}
				msg := err.Error()
				for _, leak := range []string{"TOPSECRET", "no such file", "root:", "passwd:", "permission denied", "connection refused", dir} {
					if leak == dir && strings.Contains(ref, dir) {
						continue // the ref as written may be quoted back
					}
					if strings.Contains(msg, leak) {
						t.Errorf("%q reveals %q", msg, leak)
					}
				}
				if !strings.Contains(msg, `"#/`) {
					t.Errorf("%q does not say that only in-document refs are allowed", msg)
				}
				if !strings.Contains(shape, "$schema") && !strings.Contains(msg, strconv.Quote(ref)) {
					t.Errorf("%q does not name the ref %q", msg, ref)
				}
				// Stored before the fix, such a schema must not leak at invoke either.
				err = validateInputs(json.RawMessage(schema), json.RawMessage(`{"topic": "x"}`))
				if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
					t.Fatalf("validating against it: %v", err)
				}
			})
		}
	}
	if n := fetches.Load(); n != 0 {
		t.Errorf("the schema server was fetched %d times", n)
	}

	t.Run("in-document refs resolve", func(t *testing.T) {
		schema := json.RawMessage(`{"$defs": {"topic": {"type": "string", "minLength": 2}, "list": {"type": "array", "items": {"$ref": "#/$defs/topic"}}},
			"type": "object", "properties": {"topic": {"$ref": "#/$defs/topic"}, "more": {"$ref": "#/$defs/list"}, "self": {"$ref": "#"}}}`)
		if _, err := registry.CompileInputSchema(schema); err != nil {
			t.Fatal(err)
		}
		if err := validateInputs(schema, json.RawMessage(`{"topic": "ok", "more": ["ab"], "self": {"topic": "xy"}}`)); err != nil {
			t.Fatal(err)
		}
		err := validateInputs(schema, json.RawMessage(`{"topic": "ok", "more": ["a"]}`))
		if codeOf(err) != registry.CodeUnprocessable || !strings.Contains(err.Error(), `"more.0"`) {
			t.Fatalf("got %v, want unprocessable naming more.0", err)
		}
	})
	t.Run("an anchor ref within the document resolves", func(t *testing.T) {
		schema := json.RawMessage(`{"$defs": {"t": {"$anchor": "topic", "type": "string"}}, "properties": {"topic": {"$ref": "#topic"}}}`)
		if err := validateInputs(schema, json.RawMessage(`{"topic": 5}`)); codeOf(err) != registry.CodeUnprocessable {
			t.Fatalf("got %v, want unprocessable", err)
		}
	})
	t.Run("a ref to a missing place in the document is refused naming it", func(t *testing.T) {
		_, err := registry.CompileInputSchema(json.RawMessage(`{"properties": {"topic": {"$ref": "#/$defs/nope"}}}`))
		if codeOf(err) != registry.CodeInvalidArgument || !strings.Contains(err.Error(), "#/$defs/nope") {
			t.Fatalf("got %v", err)
		}
	})
}

// doublingChain is a schema of n definitions, each an anyOf of two refs to
// the next: validating any value applies 2^n subschemas to it.
func doublingChain(n int, wrap string) string {
	var b strings.Builder
	b.WriteString(`{"$defs": {`)
	for i := range n {
		fmt.Fprintf(&b, `"d%d": {"anyOf": [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}, `, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"d%d": {"type": "string"}}, %s}`, n, fmt.Sprintf(wrap, "#/$defs/d0"))
	return b.String()
}

func TestInputSchemaWorkIsBounded(t *testing.T) {
	nestedDoubling := func(n int) string {
		// Each level descends one property and doubles: 2^n evaluations at depth n.
		var b strings.Builder
		b.WriteString(`{"$defs": {`)
		for i := range n {
			fmt.Fprintf(&b, `"d%d": {"properties": {"a": {"anyOf": [{"$ref": "#/$defs/d%d"}, {"$ref": "#/$defs/d%d"}]}}}, `, i, i+1, i+1)
		}
		fmt.Fprintf(&b, `"d%d": {"type": "string"}}, "$ref": "#/$defs/d0"}`, n)
		return b.String()
	}
	refused := []struct{ name, schema, mention string }{
		{"refs doubling 30 times at one value", doublingChain(30, `"$ref": %q`), "subschemas"},
		{"refs doubling 11 times at one value", doublingChain(11, `"$ref": %q`), "subschemas"},
		{"refs doubling under items", doublingChain(12, `"type": "array", "items": {"$ref": %q}`), "subschemas"},
		{"refs doubling once per level of nesting", nestedDoubling(20), "subschemas"},
		{"a schema applying itself to the same value", `{"anyOf": [{"type": "string"}, {"$ref": "#"}]}`, "loop"},
		{"two definitions applying each other", `{"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, "b": {"not": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"}`, "loop"},
	}
	for _, tt := range refused {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := registry.CompileInputSchema(json.RawMessage(tt.schema))
			if codeOf(err) != registry.CodeInvalidArgument || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("got %v, want invalid_argument mentioning %q", err, tt.mention)
			}
		})
	}
	accepted := []struct{ name, schema string }{
		{"refs doubling 7 times", doublingChain(7, `"$ref": %q`)},
		{"a recursive binary tree", `{"type": "object", "properties": {"value": {"type": "number"}, "left": {"$ref": "#"}, "right": {"$ref": "#"}}}`},
		{"a recursive list of children", `{"$defs": {"node": {"type": "object", "properties": {"name": {"type": "string"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"}`},
		{"many fields referring to shared models", `{"$defs": {"M": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}},
			"type": "object", "properties": {` + strings.Repeat(`"f": {"anyOf": [{"$ref": "#/$defs/M"}, {"type": "null"}]}, `, 1) + `"g": {"type": "array", "items": {"$ref": "#/$defs/M"}}, "h": {"$ref": "#/$defs/M"}}}`},
	}
	for _, tt := range accepted {
		t.Run(tt.name+" is accepted", func(t *testing.T) {
			s, err := registry.CompileInputSchema(json.RawMessage(tt.schema))
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Validate(json.RawMessage(`{"value": 1, "left": {"left": {}}, "children": [{"children": []}]}`))
		})
	}
}

// validateInputs compiles schema and checks inputs against it, as an invoke
// does through its SchemaCache.
func validateInputs(schema, inputs json.RawMessage) error {
	sch, err := registry.CompileInputSchema(schema)
	if err != nil {
		return registry.StoredSchemaError(err)
	}
	return sch.Validate(inputs)
}
