package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestMCPAssistantStory is the acceptance: an assistant deploys the
// research flow twice with kitaru deploy's bundling, routes stable, reads
// the routes and invokes the seed's example.
func TestMCPAssistantStory(t *testing.T) {
	startKitaruDev(t)
	cs := mcptest.Connect(t, cli.NewMCPServer())
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "research"))
	target := filepath.Join(root, "flows", "research.py") + ":research_agent"

	t.Run("the first deploy is version 1 with default", func(t *testing.T) {
		d := mcptest.Call[registry.Deployment](t, cs, mcpserver.ToolDeploy, map[string]any{"target": target, "inputs": map[string]any{"topic": "durable agents"}})
		if d.Version != 1 || !d.Tags["default"] || d.Entrypoint != "flows/research.py:research_agent" || d.Source == nil || d.Source.Digest == "" {
			t.Errorf("deployment %+v", d)
		}
	})
	t.Run("a canary deploy is version 2 with canary", func(t *testing.T) {
		d := mcptest.Call[registry.Deployment](t, cs, mcpserver.ToolDeploy, map[string]any{"target": target, "tag": "canary", "exclusive": true, "inputs": map[string]any{"topic": "durable agents"}})
		if diff := cmp.Diff(map[string]bool{"canary": true}, d.Tags); d.Version != 2 || diff != "" {
			t.Errorf("version %d, tags (-want +got):\n%s", d.Version, diff)
		}
	})
	t.Run("stable is routed to version 2", func(t *testing.T) {
		tag := mcptest.Call[registry.Tag](t, cs, mcpserver.ToolTag, map[string]any{"flow": "research_agent", "tag": "stable", "version": 2, "exclusive": true})
		if diff := cmp.Diff([]int{2}, tag.Versions); diff != "" {
			t.Errorf("stable versions (-want +got):\n%s", diff)
		}
	})
	t.Run("list shows the routes", func(t *testing.T) {
		flows := mcptest.Call[client.Page[registry.FlowSummary]](t, cs, mcpserver.ToolList, nil)
		if len(flows.Items) != 1 {
			t.Fatalf("flows %+v", flows.Items)
		}
		if diff := cmp.Diff(map[string][]int{"default": {1}, "canary": {2}, "stable": {2}}, flows.Items[0].Tags); diff != "" {
			t.Errorf("routes (-want +got):\n%s", diff)
		}
		versions := mcptest.Call[client.Page[registry.Deployment]](t, cs, mcpserver.ToolList, map[string]any{"flow": "research_agent"})
		var got []map[string]bool
		for _, d := range versions.Items {
			got = append(got, d.Tags)
		}
		if diff := cmp.Diff([]map[string]bool{{"canary": true, "stable": true}, {"default": true}}, got); diff != "" {
			t.Errorf("tags by version (-want +got):\n%s", diff)
		}
	})
	t.Run("get stable resolves version 2", func(t *testing.T) {
		r := mcptest.Call[registry.Resolution](t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent", "tag": "stable"})
		if r.Selector.Tag != "stable" || r.Deployment.Version != 2 {
			t.Errorf("resolution %+v", r)
		}
	})
	example := map[string]any{"flow": "research_agent", "tag": "stable", "inputs": map[string]any{"topic": "deployment routing"}}
	t.Run("the seed's example starts an execution and returns its id", func(t *testing.T) {
		e := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, example)
		if !strings.HasPrefix(e.ExecID, "ex_") || e.Version != 2 || e.Selector.Tag != "stable" {
			t.Errorf("execution %+v", e)
		}
	})
	t.Run("with wait_seconds it returns the real result", func(t *testing.T) {
		example["wait_seconds"] = 60
		e := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, example)
		if e.Status != registry.StatusCompleted || string(e.Result) != `"research notes on deployment routing"` {
			t.Errorf("execution %s: status %s, result %s", e.ExecID, e.Status, e.Result)
		}
	})
	t.Run("a file outside an initialised project is refused saying to run kitaru init", func(t *testing.T) {
		bare := t.TempDir()
		if err := os.WriteFile(filepath.Join(bare, "f.py"), []byte("def f():\n    return 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		e := mcptest.CallFails(t, cs, mcpserver.ToolDeploy, map[string]any{"target": filepath.Join(bare, "f.py") + ":f"})
		if e.Code != registry.CodePreconditionFailed || !strings.Contains(e.Message, "kitaru init") {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("a malformed target is invalid_argument", func(t *testing.T) {
		for _, bad := range []string{"flows/research.py", "flows/research.txt:research_agent", "missing.py:f"} {
			if e := mcptest.CallFails(t, cs, mcpserver.ToolDeploy, map[string]any{"target": bad}); e.Code != registry.CodeInvalidArgument {
				t.Errorf("%s: %+v", bad, e)
			}
		}
	})
}

// TestMCPBinaryOverStdio runs the real kitaru mcp and speaks JSON-RPC on its
// stdin and stdout: initialize, tools/list, and tools/call deploying a
// target relative to its working directory, then invoking it.
func TestMCPBinaryOverStdio(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "kitaru")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/kitaru/deployments/cmd/kitaru").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	startKitaruDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "mcp")
	cmd.Dir = copyDir(t, filepath.Join("..", "..", "testdata", "flows", "research"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	lines.Buffer(make([]byte, 1<<20), 16<<20)
	id := 0
	send := func(method string, params any, notify bool) {
		t.Helper()
		msg := map[string]any{"jsonrpc": "2.0", "method": method, "params": params}
		if !notify {
			id++
			msg["id"] = id
		}
		b, _ := json.Marshal(msg)
		if _, err := fmt.Fprintf(stdin, "%s\n", b); err != nil {
			t.Fatalf("write %s: %v (stderr %q)", method, err, stderr.String())
		}
	}
	// rpc sends a request and decodes the result of its answer.
	rpc := func(method string, params any, result any) {
		t.Helper()
		send(method, params, false)
		for lines.Scan() {
			var msg struct {
				ID     *int            `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(lines.Bytes(), &msg); err != nil {
				t.Fatalf("stdout holds a line that is not JSON-RPC: %q", lines.Text())
			}
			if msg.ID == nil || *msg.ID != id {
				continue // a notification
			}
			if msg.Error != nil {
				t.Fatalf("%s: JSON-RPC error %s", method, msg.Error)
			}
			if err := json.Unmarshal(msg.Result, result); err != nil {
				t.Fatalf("%s: result %s: %v", method, msg.Result, err)
			}
			return
		}
		t.Fatalf("%s: no answer (%v); stderr %q", method, lines.Err(), stderr.String())
	}

	var initialized struct {
		ServerInfo   struct{ Name string } `json:"serverInfo"`
		Capabilities struct {
			Tools *struct{} `json:"tools"`
		} `json:"capabilities"`
	}
	rpc("initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "test", "version": "0"}}, &initialized)
	if initialized.ServerInfo.Name != "kitaru" || initialized.Capabilities.Tools == nil {
		t.Errorf("initialize answered %+v", initialized)
	}
	send("notifications/initialized", map[string]any{}, true)

	var listed struct {
		Tools []struct {
			Name        string `json:"name"`
			InputSchema struct {
				Required []string `json:"required"`
			} `json:"inputSchema"`
		} `json:"tools"`
	}
	rpc("tools/list", map[string]any{}, &listed)
	required := map[string][]string{}
	for _, tool := range listed.Tools {
		required[tool.Name] = tool.InputSchema.Required
	}
	// pkg/mcpserver's tests pin the whole list; here the binary must serve it.
	if len(required) < 11 || !cmp.Equal(required[mcpserver.ToolInvoke], []string{"flow"}) || !cmp.Equal(required[mcpserver.ToolBuild], []string{"target"}) {
		t.Errorf("tools/list: %v", required)
	}

	type callResult struct {
		IsError           bool            `json:"isError"`
		StructuredContent json.RawMessage `json:"structuredContent"`
		Content           []struct{ Text string }
	}
	var deployed callResult
	rpc("tools/call", map[string]any{"name": mcpserver.ToolDeploy, "arguments": map[string]any{"target": "flows/research.py:research_agent", "inputs": map[string]any{"topic": "durable agents"}}}, &deployed)
	var d registry.Deployment
	if err := json.Unmarshal(deployed.StructuredContent, &d); deployed.IsError || err != nil || d.Version != 1 {
		t.Fatalf("deploy answered %+v (%v)", deployed, err)
	}
	var invoked callResult
	rpc("tools/call", map[string]any{"name": mcpserver.ToolInvoke, "arguments": map[string]any{"flow": "research_agent", "inputs": map[string]any{"topic": "deployment routing"}, "wait_seconds": 60}}, &invoked)
	var e registry.Execution
	if err := json.Unmarshal(invoked.StructuredContent, &e); invoked.IsError || err != nil || string(e.Result) != `"research notes on deployment routing"` {
		t.Errorf("invoke answered %+v (%v)", invoked, err)
	}
	var refused callResult
	rpc("tools/call", map[string]any{"name": mcpserver.ToolGet, "arguments": map[string]any{"flow": "research_agent", "tag": "stable", "version": 1}}, &refused)
	if !refused.IsError || len(refused.Content) == 0 || !strings.Contains(refused.Content[0].Text, `"code":"invalid_argument"`) {
		t.Errorf("tag and version together answered %+v", refused)
	}

	stdin.Close() // the client hangs up: the server ends cleanly
	if err := cmd.Wait(); err != nil {
		t.Errorf("kitaru mcp after stdin closed: %v; stderr %q", err, stderr.String())
	}
}
