// Package mcpserver is the Model Context Protocol server of `kitaru mcp`:
// tools that let an assistant deploy and build flows, inspect and move their
// routes, invoke them and follow the executions, through the same active
// connection as the CLI.
//
// Every tool takes a JSON object checked against its input schema and
// answers a structured result in the shape the HTTP API answers. A failure
// is a tool error (the call's isError) whose text is the API's error
// envelope, {"error": {"code", "message", "details"}}, so the model sees
// the server's code and the message that says what to do next.
package mcpserver

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/version"
)

// Config is what the server needs from the program that runs it.
type Config struct {
	// Client returns a client of the active connection. It is called on
	// every tool call, so that a connection set or fixed after start-up is
	// used and a missing one is reported by the call; nil is
	// client.NewFromEnvironment.
	Client func() (*client.Client, error)
	// Warnings receives, a line each, what a deploy from source could not
	// check (no python3, a schema it cannot read); nil is os.Stderr, which
	// an MCP client shows as the server's log.
	Warnings io.Writer
}

// New returns the server with its tools.
func New(cfg Config) *mcp.Server {
	if cfg.Client == nil {
		cfg.Client = func() (*client.Client, error) { return client.NewFromEnvironment() }
	}
	// A client per call, one memory of route revisions for the session:
	// a tag moved by one tool call is read at once by the next
	// (docs/route-cache.md).
	routes, connect := &client.RouteRevisions{}, cfg.Client
	cfg.Client = func() (*client.Client, error) {
		c, err := connect()
		if err == nil {
			c.SetRouteRevisions(routes)
		}
		return c, err
	}
	if cfg.Warnings == nil {
		cfg.Warnings = os.Stderr
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "kitaru", Title: "Kitaru deployments", Version: version.Version},
		&mcp.ServerOptions{Instructions: instructions})
	t := tools{cfg: cfg, inputs: map[string]argumentSchema{}}
	t.register(s)
	s.AddReceivingMiddleware(checkArguments(t.inputs))
	return s
}

// instructions tell the model how the tools fit together.
const instructions = `Kitaru deployments: a flow (e.g. research_agent) is deployed as immutable, numbered versions 1, 2, 3, …; tags (default, stable, canary, …) route to versions. Consumers name a flow plus either a tag or a version, never both; with neither, the tag "default" is used. Inspect routes with kitaru_deployments_list and kitaru_deployments_get before invoking; kitaru_deployments_invoke starts an execution and returns its exec_id; follow it with kitaru_executions_get. Errors come back as {"error": {"code", "message"}}: the message says what to do next.`

// envelopeError is a failed call as the model reads it: the HTTP API's
// error envelope. It unwraps to the cause.
type envelopeError struct {
	cause error
	text  string
}

func (e *envelopeError) Error() string { return e.text }
func (e *envelopeError) Unwrap() error { return e.cause }

// toolError turns err into the envelope a tool error carries: the server's
// code and message, or internal and the error's text for anything else.
func toolError(err error) error {
	detail := api.ErrorDetail{Code: registry.CodeOf(err), Message: err.Error()}
	var re *registry.Error
	if errors.As(err, &re) {
		detail.Message, detail.Details = re.Message, re.Details
	}
	text, merr := json.Marshal(struct {
		Error api.ErrorDetail `json:"error"`
	}{detail})
	if merr != nil { // details the server sent are JSON, so this is unreachable
		text, _ = json.Marshal(map[string]api.ErrorDetail{"error": {Code: detail.Code, Message: detail.Message}})
	}
	return &envelopeError{cause: err, text: string(text)}
}

// schemaTypes adjusts inference from Go types to the JSON the API sends.
// Maps and slices go out as {} and [], never null (the registry's
// MarshalJSON methods see to it), so their schemas have one type. Raw JSON
// is left open here and given its schema by name (rawProperties).
var schemaTypes = map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[json.RawMessage](): {},
	reflect.TypeFor[map[string]any]():  {Type: "object"},
	reflect.TypeFor[map[string]bool](): {Type: "object", AdditionalProperties: &jsonschema.Schema{Type: "boolean"}},
	reflect.TypeFor[map[string][]int](): {Type: "object",
		AdditionalProperties: &jsonschema.Schema{Type: "array", Items: &jsonschema.Schema{Type: "integer"}}},
	// A split goes out as {"3": 90, "4": 10}: version → weight.
	reflect.TypeFor[registry.Split](): {Type: "object", Description: "a split exclusive route: version → weight (1-99), weights summing to 100",
		AdditionalProperties: &jsonschema.Schema{Type: "integer"}},
}

// rawProperties are the schemas of the raw JSON (json.RawMessage)
// properties of the API's results, by name, as api/openapi.yaml has them.
// Inference alone would give them the always-true schema, which marshals
// as the bare true many clients reject.
var rawProperties = map[string]func() *jsonschema.Schema{
	"inputs": func() *jsonschema.Schema {
		return &jsonschema.Schema{Type: "object", Description: "the flow's inputs: keyword argument name to JSON value"}
	},
	"input_schema": func() *jsonschema.Schema {
		return &jsonschema.Schema{Type: "object", Description: "the JSON Schema the flow's inputs are checked against"}
	},
	// A flow may return any JSON value, null included.
	"result": func() *jsonschema.Schema {
		return &jsonschema.Schema{Description: "the flow's JSON return value: any JSON value"}
	},
	// A diff's changed values (kitaru_flows_diff): a field's, an input's,
	// a parameter's default.
	"before": func() *jsonschema.Schema {
		return &jsonschema.Schema{Description: "the value in the from deployment: any JSON value (a field's string, empty when unset, or boolean; an input's value)"}
	},
	"after": func() *jsonschema.Schema {
		return &jsonschema.Schema{Description: "the value in the to deployment: any JSON value (a field's string, empty when unset, or boolean; an input's value)"}
	},
	"default_value": func() *jsonschema.Schema {
		return &jsonschema.Schema{Description: "the parameter's declared default: any JSON value"}
	},
}

// nullableProperties are the only properties the API sends as null
// (nullable in api/openapi.yaml): a route change from or to nowhere, a flow
// without a default route. Every other null inference allows is for a Go
// nil the API never sends: pointers with omitempty are left out instead.
var nullableProperties = map[string]bool{"from": true, "to": true, "default_version": true}

// schemaFor infers T's schema and makes it portable (see portable); it
// panics on a type it cannot describe, which a test catches.
func schemaFor[T any]() *jsonschema.Schema {
	s, err := jsonschema.For[T](&jsonschema.ForOptions{TypeSchemas: schemaTypes})
	if err != nil {
		panic(err)
	}
	portable(s)
	return s
}

// portable rewrites an inferred schema into what every MCP client takes:
// a schema object with one type at every node. Raw JSON properties get
// their schema from rawProperties; a nullable property becomes
// anyOf [its type, null]; any other ["null", T] becomes T.
func portable(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	for name, p := range s.Properties {
		if raw, ok := rawProperties[name]; ok && reflect.DeepEqual(*p, jsonschema.Schema{}) {
			s.Properties[name] = raw()
			continue
		}
		if i := slices.Index(p.Types, "null"); i >= 0 && len(p.Types) == 2 {
			single := *p
			single.Types, single.Type = nil, p.Types[1-i]
			if nullableProperties[name] && slices.Contains(s.Required, name) {
				s.Properties[name] = &jsonschema.Schema{AnyOf: []*jsonschema.Schema{&single, {Type: "null"}}}
			} else {
				s.Properties[name] = &single
			}
		}
		portable(s.Properties[name])
	}
	portable(s.Items)
	portable(s.AdditionalProperties)
	for _, b := range s.AnyOf {
		portable(b)
	}
}

// inputSchema infers T's schema and requires non-empty strings for the
// required string properties and at least 1 for integers named version.
func inputSchema[T any]() *jsonschema.Schema {
	s := schemaFor[T]()
	for _, name := range s.Required {
		if p := s.Properties[name]; p != nil && p.Type == "string" {
			p.MinLength = jsonschema.Ptr(1)
		}
	}
	if p := s.Properties["version"]; p != nil {
		p.Minimum = jsonschema.Ptr(1.0)
	}
	return s
}
