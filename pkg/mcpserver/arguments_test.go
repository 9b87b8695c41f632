package mcpserver_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestArgumentsThatBreakTheInputSchemaAnswerTheErrorEnvelope: a call whose
// arguments the input schema refuses answers the same tool error as every
// other failure, naming the arguments and what to send, before any request.
func TestArgumentsThatBreakTheInputSchemaAnswerTheErrorEnvelope(t *testing.T) {
	for _, env := range []string{client.EnvServerURL, client.EnvAuthToken, client.EnvProject} {
		t.Setenv(env, "") // no connection: the check must come first
	}
	t.Setenv(client.EnvConfigDir, t.TempDir())
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))

	for _, c := range []struct {
		name      string
		tool      string
		args      any
		arguments []any    // details.arguments
		says      []string // in the message
	}{
		{"a wait over the maximum names wait_seconds and the range", mcpserver.ToolInvoke,
			map[string]any{"flow": "research_agent", "wait_seconds": 301}, []any{"wait_seconds"}, []string{`"wait_seconds"`, "301", "0 to 300"}},
		{"a missing required argument is named with what it holds", mcpserver.ToolUntag,
			map[string]any{"flow": "research_agent", "tag": "stable"}, []any{"version"}, []string{`"version" is missing`, "the version to remove the tag from"}},
		{"a string for an integer says to send an integer", mcpserver.ToolGet,
			map[string]any{"flow": "research_agent", "version": "2"}, []any{"version"}, []string{`"version"`, "a string", "send an integer"}},
		{"a fraction for an integer says to send a whole number", mcpserver.ToolGet,
			map[string]any{"flow": "research_agent", "version": 1.5}, []any{"version"}, []string{`"version"`, "1.5", "integer"}},
		{"a whole number written with a fraction says how to write it", mcpserver.ToolGet,
			map[string]any{"flow": "research_agent", "version": json.Number("2.0")}, []any{"version"}, []string{`"version" is 2.0`, "without a fraction or exponent"}},
		{"an integer too large for the tool says so", mcpserver.ToolGet,
			map[string]any{"flow": "research_agent", "version": json.Number("1e20")}, []any{"version"}, []string{`"version" is 1e20`, "too large"}},
		{"a version below 1 says the least it takes", mcpserver.ToolDelete,
			map[string]any{"flow": "research_agent", "version": 0}, []any{"version"}, []string{`"version"`, "at least 1"}},
		{"an empty required string says it is empty", mcpserver.ToolExecutionGet,
			map[string]any{"exec_id": ""}, []any{"exec_id"}, []string{`"exec_id" is empty`, "the execution's id"}},
		{"null for an argument says to send its type or leave it out", mcpserver.ToolInvoke,
			map[string]any{"flow": "research_agent", "tag": nil}, []any{"tag"}, []string{`"tag"`, "null", "send a string", "leave it out"}},
		{"inputs that are not an object say to send an object", mcpserver.ToolInvoke,
			map[string]any{"flow": "research_agent", "inputs": []any{"x"}}, []any{"inputs"}, []string{`"inputs"`, "an array", "send an object"}},
		{"an unknown argument is named with the ones the tool takes", mcpserver.ToolGet,
			map[string]any{"flow": "research_agent", "flow_name": "x"}, []any{"flow_name"}, []string{`unknown argument "flow_name"`, "flow, tag, version"}},
		{"every problem is named at once", mcpserver.ToolInvoke,
			map[string]any{"wait_seconds": -1, "flo": "x"}, []any{"flo", "flow", "wait_seconds"}, []string{`"flo"`, `"flow" is missing`, `"wait_seconds"`}},
		{"no arguments at all name the required ones", mcpserver.ToolHistory,
			nil, []any{"flow", "tag"}, []string{`"flow" is missing`, `"tag" is missing`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := mcptest.CallFails(t, cs, c.tool, argsMap(c.args))
			if e.Code != registry.CodeInvalidArgument {
				t.Errorf("code %s, want invalid_argument: %+v", e.Code, e)
			}
			for _, s := range c.says {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q does not say %q", e.Message, s)
				}
			}
			if strings.Contains(e.Message, "validating") {
				t.Errorf("message %q is the SDK's text", e.Message)
			}
			if diff := cmp.Diff(c.arguments, e.Details["arguments"]); diff != "" {
				t.Errorf("details.arguments (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("arguments that are not an object answer the envelope", func(t *testing.T) {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: mcpserver.ToolGet, Arguments: []any{"research_agent"}})
		if err != nil {
			t.Fatalf("protocol error, want a tool error: %v", err)
		}
		var env struct{ Error mcptest.ToolError }
		if !res.IsError || json.Unmarshal([]byte(mcptest.Text(res)), &env) != nil || env.Error.Code != registry.CodeInvalidArgument ||
			!strings.Contains(env.Error.Message, "JSON object") {
			t.Errorf("got %+v: %s", res, mcptest.Text(res))
		}
	})
	t.Run("valid arguments reach the tool", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent", "version": 2})
		if e.Code != registry.CodePreconditionFailed {
			t.Errorf("got %+v, want the missing connection", e)
		}
	})
}

func argsMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}
