package mcpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/registry"
)

// argumentSchema is a tool's input schema, and the same resolved for
// validation.
type argumentSchema struct {
	schema   *jsonschema.Schema
	resolved *jsonschema.Resolved
}

// checkArguments is middleware that checks a tool call's arguments against
// the tool's input schema before the SDK does, so that arguments it would
// refuse with its own text are refused with the tool error every other
// failure carries: invalid_argument, naming each argument and what to send.
func checkArguments(inputs map[string]argumentSchema) mcp.Middleware {
	return func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			call, ok := req.(*mcp.CallToolRequest)
			if !ok || method != "tools/call" || call.Params == nil {
				return next(ctx, method, req)
			}
			in, ok := inputs[call.Params.Name]
			if !ok {
				return next(ctx, method, req)
			}
			if err := in.check(call.Params.Arguments); err != nil {
				var res mcp.CallToolResult
				res.SetError(toolError(err))
				return &res, nil
			}
			return next(ctx, method, req)
		}
	}
}

// check returns invalid_argument naming every argument of raw the schema
// refuses: unknown ones, missing ones, then wrong values, each in a stable
// order, with details.arguments listing them.
func (a argumentSchema) check(raw json.RawMessage) error {
	args := map[string]any{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return registry.Errorf(registry.CodeInvalidArgument, "the arguments are not valid JSON (%v); send a JSON object of argument name to value", err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return registry.Errorf(registry.CodeInvalidArgument, "the arguments are %s; send a JSON object of argument name to value, with the arguments %s",
				kindOf(v), strings.Join(a.names(), ", "))
		}
		args = m
	}
	var names, problems []string
	add := func(name, problem string) {
		names = append(names, name)
		problems = append(problems, problem)
	}
	given := make([]string, 0, len(args))
	for name := range args {
		given = append(given, name)
	}
	slices.Sort(given)
	if a.schema.AdditionalProperties != nil && a.schema.AdditionalProperties.Not != nil {
		for _, name := range given {
			if a.schema.Properties[name] == nil {
				add(name, fmt.Sprintf("unknown argument %q: this tool takes %s", name, strings.Join(a.names(), ", ")))
			}
		}
	}
	for _, name := range a.schema.Required {
		if _, ok := args[name]; !ok {
			add(name, fmt.Sprintf("%q is missing; send %s", name, what(a.schema.Properties[name])))
		}
	}
	for _, name := range given {
		p := a.schema.Properties[name]
		if p == nil {
			continue
		}
		if problem := valueProblem(name, args[name], p, slices.Contains(a.schema.Required, name)); problem != "" {
			add(name, problem)
		}
	}
	if len(problems) == 0 {
		// What the checks above do not cover, the SDK's validation (the same
		// library and schema) would refuse: refuse it here with its text.
		var plain any
		if err := json.Unmarshal(raw, &plain); err == nil && plain != nil {
			if err := a.resolved.Validate(plain); err != nil {
				return registry.Errorf(registry.CodeInvalidArgument, "the arguments do not fit the tool's input schema (%v); send them as its inputSchema describes", err)
			}
		}
		return nil
	}
	return registry.Errorf(registry.CodeInvalidArgument, "%s", strings.Join(problems, "; ")).WithDetails("arguments", names)
}

// names lists the tool's arguments in the order the schema has them.
func (a argumentSchema) names() []string {
	if len(a.schema.PropertyOrder) == len(a.schema.Properties) {
		return a.schema.PropertyOrder
	}
	names := make([]string, 0, len(a.schema.Properties))
	for name := range a.schema.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// valueProblem says what is wrong with v as the argument name of schema p,
// or "" when nothing is. It covers the keywords the tools' input schemas
// use: type, minLength, minimum and maximum.
func valueProblem(name string, v any, p *jsonschema.Schema, required bool) string {
	if v == nil {
		if required {
			return fmt.Sprintf("%q is null; send %s", name, what(p))
		}
		return fmt.Sprintf("%q is null; send %s, or leave it out", name, what(p))
	}
	kind := kindOf(v)
	n, isNumber := v.(json.Number)
	switch p.Type {
	case "integer":
		if !isNumber {
			return fmt.Sprintf("%q is %s; send %s", name, kind, what(p))
		}
		if _, err := n.Int64(); err != nil {
			return integerProblem(name, n, p)
		}
	case "number":
		if !isNumber {
			return fmt.Sprintf("%q is %s; send %s", name, kind, what(p))
		}
	case "string", "boolean", "object", "array":
		if kind != article(p.Type) {
			return fmt.Sprintf("%q is %s; send %s", name, kind, what(p))
		}
	}
	if s, ok := v.(string); ok && p.MinLength != nil && utf8.RuneCountInString(s) < *p.MinLength {
		if s == "" {
			return fmt.Sprintf("%q is empty; send %s", name, what(p))
		}
		return fmt.Sprintf("%q is shorter than %d characters; send %s", name, *p.MinLength, what(p))
	}
	if isNumber {
		f, err := n.Float64()
		if err == nil && (p.Minimum != nil && f < *p.Minimum || p.Maximum != nil && f > *p.Maximum) {
			return fmt.Sprintf("%q is %s; send %s %s", name, n, article(p.Type), bounds(p))
		}
	}
	return ""
}

// integerProblem says why n, a JSON number that is not a plain int64
// literal, is refused as the integer argument name of schema p.
func integerProblem(name string, n json.Number, p *jsonschema.Schema) string {
	f, err := n.Float64()
	switch {
	case err != nil || math.Abs(f) >= math.MaxInt64:
		return fmt.Sprintf("%q is %s, too large; send %s", name, n, what(p))
	case f == math.Trunc(f):
		return fmt.Sprintf("%q is %s; write the integer without a fraction or exponent, e.g. %d", name, n, int64(f))
	}
	return fmt.Sprintf("%q is %s, not a whole number; send %s", name, n, what(p))
}

// bounds says the range a number argument takes.
func bounds(p *jsonschema.Schema) string {
	switch {
	case p.Minimum != nil && p.Maximum != nil:
		return fmt.Sprintf("from %g to %g", *p.Minimum, *p.Maximum)
	case p.Minimum != nil:
		return fmt.Sprintf("of at least %g", *p.Minimum)
	default:
		return fmt.Sprintf("of at most %g", *p.Maximum)
	}
}

// what says what to send for an argument: its type and its description.
func what(p *jsonschema.Schema) string {
	if p == nil {
		return "it"
	}
	s := article(p.Type)
	if p.Description != "" {
		s += " (" + p.Description + ")"
	}
	return s
}

// article names a JSON type with its article, "an integer".
func article(jsonType string) string {
	switch jsonType {
	case "":
		return "a value"
	case "integer", "object", "array":
		return "an " + jsonType
	}
	return "a " + jsonType
}

// kindOf names the JSON type of a decoded value, with its article.
func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}
