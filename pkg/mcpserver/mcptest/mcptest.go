// Package mcptest calls an MCP server's tools from tests, over the SDK's
// in-memory transports.
package mcptest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kitaru/deployments/pkg/registry"
)

// Connect opens a client session to s; it is closed when the test ends.
func Connect(t testing.TB, s *mcp.Server) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	clientT, serverT := mcp.NewInMemoryTransports()
	ss, err := s.Connect(ctx, serverT, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "mcptest", Version: "v0"}, nil).Connect(ctx, clientT, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close(); _ = ss.Wait() })
	return cs
}

// Call calls a tool that must succeed and decodes its structured result
// into a T.
func Call[T any](t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) T {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s(%v): %v", name, args, err)
	}
	if res.IsError {
		t.Fatalf("%s(%v) is a tool error: %s", name, args, Text(res))
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s(%v): structured result %s: %v", name, args, raw, err)
	}
	return out
}

// ToolError is the API's error envelope a tool error carries.
type ToolError struct {
	Code    registry.Code  `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// CallFails calls a tool that must answer a tool error (not a protocol
// error) carrying the API's error envelope, and returns the envelope.
func CallFails(t testing.TB, cs *mcp.ClientSession, name string, args map[string]any) ToolError {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s(%v) is a protocol error, want a tool error: %v", name, args, err)
	}
	if !res.IsError {
		t.Fatalf("%s(%v) succeeded, want a tool error: %s", name, args, Text(res))
	}
	var env struct {
		Error ToolError `json:"error"`
	}
	if err := json.Unmarshal([]byte(Text(res)), &env); err != nil || env.Error.Code == "" {
		t.Fatalf("%s(%v): the tool error %q is not the API's error envelope (%v)", name, args, Text(res), err)
	}
	return env.Error
}

// Text joins a result's text contents.
func Text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}
