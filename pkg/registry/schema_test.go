package registry_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
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
				err = registry.ValidateInputs(json.RawMessage(schema), json.RawMessage(`{"topic": "x"}`))
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
		if err := registry.ValidateInputs(schema, json.RawMessage(`{"topic": "ok", "more": ["ab"], "self": {"topic": "xy"}}`)); err != nil {
			t.Fatal(err)
		}
		err := registry.ValidateInputs(schema, json.RawMessage(`{"topic": "ok", "more": ["a"]}`))
		if codeOf(err) != registry.CodeUnprocessable || !strings.Contains(err.Error(), `"more.0"`) {
			t.Fatalf("got %v, want unprocessable naming more.0", err)
		}
	})
	t.Run("an anchor ref within the document resolves", func(t *testing.T) {
		schema := json.RawMessage(`{"$defs": {"t": {"$anchor": "topic", "type": "string"}}, "properties": {"topic": {"$ref": "#topic"}}}`)
		if err := registry.ValidateInputs(schema, json.RawMessage(`{"topic": 5}`)); codeOf(err) != registry.CodeUnprocessable {
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
