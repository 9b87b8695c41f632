package mcpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
	"github.com/kitaru/deployments/pkg/pysig"
	"github.com/kitaru/deployments/pkg/registry"
)

// startDev starts kitaru dev and makes it the active connection.
func startDev(t *testing.T) *client.Client {
	t.Helper()
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", FlowOutput: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	t.Setenv(client.EnvServerURL, srv.URL())
	t.Setenv(client.EnvAuthToken, srv.APIKey())
	t.Setenv(client.EnvProject, devstack.Project)
	t.Setenv(client.EnvConfigDir, t.TempDir())
	c, err := client.NewFromEnvironment()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// inputSchemas are the input schemas testdata entrypoints are deployed with,
// as a client reading their signatures would send them; an entrypoint not
// listed is deployed without one.
var inputSchemas = map[string]string{
	"flows/research.py:research_agent": `{"type": "object", "required": ["topic"], "additionalProperties": false, "properties": {"topic": {"type": "string"}}}`,
}

// deploySDK deploys a testdata project's entrypoint with the Go SDK, as
// set-up for the tools that read and route deployments.
func deploySDK(t *testing.T, c *client.Client, project, entrypoint, flow, inputs, tag string, exclusive bool) registry.Deployment {
	t.Helper()
	b, err := bundle.Build(filepath.Join("..", "..", "testdata", "flows", project))
	if err != nil {
		t.Fatal(err)
	}
	req := client.DeployRequest{
		Entrypoint: entrypoint, Source: &client.Source{Archive: b.Data},
		Inputs: json.RawMessage(inputs), Tag: tag, Exclusive: exclusive,
	}
	if schema := inputSchemas[entrypoint]; schema != "" {
		req.InputSchema = json.RawMessage(schema)
	}
	d, err := c.Deployments().Deploy(context.Background(), flow, req)
	if err != nil {
		t.Fatal(err)
	}
	return d.Deployment
}

func TestToolsAreListedWithTheirInputSchemas(t *testing.T) {
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Type       string `json:"type"`
		Required   []string
		Properties map[string]struct {
			Type        string   `json:"type"`
			Description string   `json:"description"`
			Minimum     *float64 `json:"minimum"`
			Maximum     *float64 `json:"maximum"`
		}
	}
	want := map[string]struct {
		required []string
		types    map[string]string
	}{
		mcpserver.ToolDeploy:          {[]string{"target"}, map[string]string{"target": "string", "inputs": "object", "tag": "string", "exclusive": "boolean", "stack": "string", "description": "string", "secrets": "array"}},
		mcpserver.ToolInvoke:          {[]string{"flow"}, map[string]string{"flow": "string", "tag": "string", "version": "integer", "inputs": "object", "idempotency_key": "string", "sticky_key": "string", "wait_seconds": "integer"}},
		mcpserver.ToolList:            {nil, map[string]string{"flow": "string", "next_token": "string"}},
		mcpserver.ToolGet:             {[]string{"flow"}, map[string]string{"flow": "string", "tag": "string", "version": "integer", "sticky_key": "string"}},
		mcpserver.ToolTag:             {[]string{"flow", "tag"}, map[string]string{"flow": "string", "tag": "string", "version": "integer", "exclusive": "boolean", "split": "object"}},
		mcpserver.ToolUntag:           {[]string{"flow", "tag", "version"}, map[string]string{"flow": "string", "tag": "string", "version": "integer"}},
		mcpserver.ToolDelete:          {[]string{"flow", "version"}, map[string]string{"flow": "string", "version": "integer"}},
		mcpserver.ToolHistory:         {[]string{"flow", "tag"}, map[string]string{"flow": "string", "tag": "string", "next_token": "string"}},
		mcpserver.ToolExecutionGet:    {[]string{"exec_id"}, map[string]string{"exec_id": "string"}},
		mcpserver.ToolExecutionCancel: {[]string{"exec_id"}, map[string]string{"exec_id": "string"}},
		mcpserver.ToolFlowsDelete:     {[]string{"flow"}, map[string]string{"flow": "string", "force": "boolean"}},
		mcpserver.ToolFlowsStatus:     {[]string{"flow"}, map[string]string{"flow": "string", "tag": "string", "version": "integer", "since": "string"}},
		mcpserver.ToolFlowsDiff:       {[]string{"flow", "from", "to"}, map[string]string{"flow": "string", "from": "string", "to": "string", "path": "string"}},
		mcpserver.ToolFlowsPrune:      {[]string{"flow", "keep"}, map[string]string{"flow": "string", "keep": "integer", "older_than": "string", "dry_run": "boolean"}},
		mcpserver.ToolExecutionList:   {[]string{"flow"}, map[string]string{"flow": "string", "version": "integer", "tag": "string", "status": "string", "since": "string", "next_token": "string"}},
		mcpserver.ToolExecutionWait:   {[]string{"exec_id"}, map[string]string{"exec_id": "string", "wait_seconds": "integer"}},
		mcpserver.ToolExecutionLogs:   {[]string{"exec_id"}, map[string]string{"exec_id": "string", "cursor": "string"}},
		mcpserver.ToolBuild:           {[]string{"target"}, map[string]string{"target": "string", "inputs": "object", "stack": "string", "description": "string", "secrets": "array"}},
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		w, ok := want[tool.Name]
		if !ok {
			t.Errorf("unexpected tool %s", tool.Name)
			continue
		}
		t.Run(tool.Name+" has a description, an object schema with its fields, and an output schema", func(t *testing.T) {
			if len(tool.Description) < 80 {
				t.Errorf("description %q is too short to guide a model", tool.Description)
			}
			if tool.OutputSchema == nil {
				t.Error("no output schema")
			}
			raw, _ := json.Marshal(tool.InputSchema)
			var s schema
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			if s.Type != "object" {
				t.Errorf("input schema type %q, want object", s.Type)
			}
			slices.Sort(s.Required)
			wantRequired := slices.Sorted(slices.Values(w.required))
			if diff := cmp.Diff(wantRequired, s.Required); diff != "" {
				t.Errorf("required (-want +got):\n%s", diff)
			}
			got := map[string]string{}
			for name, p := range s.Properties {
				got[name] = p.Type
				if p.Description == "" {
					t.Errorf("property %s has no description", name)
				}
			}
			if diff := cmp.Diff(w.types, got); diff != "" {
				t.Errorf("property types (-want +got):\n%s", diff)
			}
			if v, ok := s.Properties["version"]; ok && (v.Minimum == nil || *v.Minimum != 1) {
				t.Errorf("version minimum %v, want 1", v.Minimum)
			}
			if ws, ok := s.Properties["wait_seconds"]; ok && (ws.Maximum == nil || *ws.Maximum != mcpserver.MaxWaitSeconds) {
				t.Errorf("wait_seconds maximum %v, want %d", ws.Maximum, mcpserver.MaxWaitSeconds)
			}
		})
	}
	if len(names) != len(want) {
		t.Errorf("tools %v, want the %d of the issue", names, len(want))
	}
}

func TestToolsOnKitaruDev(t *testing.T) {
	c := startDev(t)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "", false)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "canary", true)
	deploySDK(t, c, "behaviours", "flows/behaviours.py:sleeps", "sleeps", `{"seconds": 30}`, "", false)
	deploySDK(t, c, "behaviours", "flows/behaviours.py:fails", "fails", `{"message": "no sources"}`, "", false)
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))

	t.Run("list without a flow shows every flow with its routes", func(t *testing.T) {
		page := mcptest.Call[client.Page[registry.FlowSummary]](t, cs, mcpserver.ToolList, nil)
		var got []string
		for _, f := range page.Items {
			got = append(got, f.Flow)
			if f.Flow == "research_agent" {
				if diff := cmp.Diff(map[string][]int{"default": {1}, "canary": {2}}, f.Tags); diff != "" {
					t.Errorf("research_agent routes (-want +got):\n%s", diff)
				}
			}
		}
		if diff := cmp.Diff([]string{"fails", "research_agent", "sleeps"}, got); diff != "" {
			t.Errorf("flows (-want +got):\n%s", diff)
		}
	})
	t.Run("list with a flow shows its versions newest first with their tags", func(t *testing.T) {
		page := mcptest.Call[client.Page[registry.Deployment]](t, cs, mcpserver.ToolList, map[string]any{"flow": "research_agent"})
		var got []map[string]bool
		for _, d := range page.Items {
			got = append(got, d.Tags)
		}
		if diff := cmp.Diff([]map[string]bool{{"canary": true}, {"default": true}}, got); diff != "" {
			t.Errorf("tags by version (-want +got):\n%s", diff)
		}
	})
	t.Run("get without a selector resolves default", func(t *testing.T) {
		r := mcptest.Call[registry.Resolution](t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent"})
		if r.Selector.Tag != "default" || r.Deployment.Version != 1 {
			t.Errorf("got %+v → version %d, want tag default → version 1", r.Selector, r.Deployment.Version)
		}
	})
	t.Run("get by tag and by version resolves them", func(t *testing.T) {
		if r := mcptest.Call[registry.Resolution](t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent", "tag": "canary"}); r.Deployment.Version != 2 {
			t.Errorf("canary → version %d, want 2", r.Deployment.Version)
		}
		if r := mcptest.Call[registry.Resolution](t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent", "version": 1}); r.Deployment.Version != 1 || r.Selector.Version != 1 {
			t.Errorf("version 1 → %+v", r)
		}
	})
	t.Run("a tag and a version together are refused with invalid_argument", func(t *testing.T) {
		for _, tool := range []string{mcpserver.ToolGet, mcpserver.ToolInvoke} {
			e := mcptest.CallFails(t, cs, tool, map[string]any{"flow": "research_agent", "tag": "canary", "version": 1})
			if e.Code != registry.CodeInvalidArgument || !strings.Contains(e.Message, "not both") {
				t.Errorf("%s: %+v", tool, e)
			}
		}
	})
	t.Run("tag moves stable to version 2 and history records it", func(t *testing.T) {
		tag := mcptest.Call[registry.Tag](t, cs, mcpserver.ToolTag, map[string]any{"flow": "research_agent", "tag": "stable", "version": 2, "exclusive": true})
		if !tag.Exclusive || !slices.Equal(tag.Versions, []int{2}) {
			t.Errorf("tag %+v, want exclusive on [2]", tag)
		}
		h := mcptest.Call[client.Page[registry.RouteChange]](t, cs, mcpserver.ToolHistory, map[string]any{"flow": "research_agent", "tag": "stable"})
		if len(h.Items) != 1 || h.Items[0].To == nil || *h.Items[0].To != 2 {
			t.Errorf("history %+v, want one move to 2", h.Items)
		}
	})
	t.Run("tag splits live by weight; get with a sticky key resolves one of its versions", func(t *testing.T) {
		tag := mcptest.Call[registry.Tag](t, cs, mcpserver.ToolTag, map[string]any{"flow": "research_agent", "tag": "live", "split": map[string]any{"1": 80, "2": 20}})
		if !tag.Exclusive || !tag.Split.Equal(registry.Split{1: 80, 2: 20}) {
			t.Fatalf("tag %+v, want the split", tag)
		}
		want := registry.Split{1: 80, 2: 20}.Pick(registry.StickyBucket("research_agent", "live", "user-1"))
		r := mcptest.Call[registry.Resolution](t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent", "tag": "live", "sticky_key": "user-1"})
		if r.Deployment.Version != want {
			t.Fatalf("get = v%d, want v%d", r.Deployment.Version, want)
		}
		e := mcptest.CallFails(t, cs, mcpserver.ToolTag, map[string]any{"flow": "research_agent", "tag": "live", "split": map[string]any{"1": 80, "2": 30}})
		if e.Code != registry.CodeInvalidArgument || e.Details[registry.DetailReason] != registry.ReasonInvalidSplit {
			t.Fatalf("a bad split = %+v, want invalid_argument invalid_split", e)
		}
	})
	t.Run("untag removes a shared label", func(t *testing.T) {
		mcptest.Call[registry.Tag](t, cs, mcpserver.ToolTag, map[string]any{"flow": "research_agent", "tag": "benchmark", "version": 2})
		got := mcptest.Call[map[string]any](t, cs, mcpserver.ToolUntag, map[string]any{"flow": "research_agent", "tag": "benchmark", "version": 2})
		if diff := cmp.Diff(map[string]any{"flow": "research_agent", "tag": "benchmark", "version": 2.0, "removed": true}, got); diff != "" {
			t.Errorf("untag (-want +got):\n%s", diff)
		}
		e := mcptest.CallFails(t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent", "tag": "benchmark"})
		if e.Code != registry.CodeNotFound {
			t.Errorf("resolving the removed tag: %+v", e)
		}
	})
	t.Run("untag default is refused with the server's conflict", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolUntag, map[string]any{"flow": "research_agent", "tag": "default", "version": 1})
		if e.Code != registry.CodeConflict || e.Message == "" {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("delete refuses a version holding an exclusive tag and deletes one without", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolDelete, map[string]any{"flow": "research_agent", "version": 2})
		if e.Code != registry.CodeConflict || !strings.Contains(e.Message, "canary") {
			t.Errorf("deleting version 2: %+v", e)
		}
		deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "experiment", false)
		got := mcptest.Call[map[string]any](t, cs, mcpserver.ToolDelete, map[string]any{"flow": "research_agent", "version": 3})
		if got["deleted"] != true {
			t.Errorf("delete: %v", got)
		}
		if e := mcptest.CallFails(t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent", "version": 3}); e.Code != registry.CodeNotFound {
			t.Errorf("reading the deleted version: %+v", e)
		}
	})
	t.Run("invoke without a selector runs default and executions_get follows it", func(t *testing.T) {
		e := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "inputs": map[string]any{"topic": "default route"}})
		if e.ExecID == "" || e.Version != 1 || e.Selector.Tag != "default" {
			t.Errorf("execution %+v, want one of version 1 by tag default", e)
		}
		got := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolExecutionGet, map[string]any{"exec_id": e.ExecID})
		if got.ExecID != e.ExecID || got.Flow != "research_agent" {
			t.Errorf("executions_get: %+v", got)
		}
	})
	t.Run("invoke with wait_seconds returns the finished result", func(t *testing.T) {
		e := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "tag": "stable", "inputs": map[string]any{"topic": "deployment routing"}, "wait_seconds": 60})
		if e.Status != registry.StatusCompleted || string(e.Result) != `"research notes on deployment routing"` {
			t.Errorf("execution %s: status %s, result %s", e.ExecID, e.Status, e.Result)
		}
	})
	t.Run("invoke with wait_seconds returns a failed execution with the flow's exception, not a tool error", func(t *testing.T) {
		e := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "fails", "wait_seconds": 60})
		if e.Status != registry.StatusFailed || e.Error == nil || e.Error.Type != "ValueError" || e.Error.Message != "no sources" {
			t.Errorf("execution %s: status %s, error %+v", e.ExecID, e.Status, e.Error)
		}
	})
	t.Run("invoke with an unknown input answers the server's unprocessable", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "inputs": map[string]any{"subject": "x"}})
		if e.Code != registry.CodeUnprocessable || !strings.Contains(e.Message, "subject") {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("invoke with a short wait returns the execution still running, and cancel stops it", func(t *testing.T) {
		e := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "sleeps", "wait_seconds": 1})
		if e.Status != registry.StatusRunning {
			t.Errorf("status %s after 1 s of a 30 s flow, want running", e.Status)
		}
		got := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolExecutionCancel, map[string]any{"exec_id": e.ExecID})
		if got.Status != registry.StatusCancelled {
			t.Errorf("status %s after cancel", got.Status)
		}
	})
	t.Run("an unknown flow or execution answers not_found with the server's message", func(t *testing.T) {
		for _, c := range []struct {
			tool string
			args map[string]any
		}{
			{mcpserver.ToolInvoke, map[string]any{"flow": "nope"}},
			{mcpserver.ToolList, map[string]any{"flow": "nope"}},
			{mcpserver.ToolExecutionGet, map[string]any{"exec_id": "ex_01JZZZZZZZZZZZZZZZZZZZZZZZ"}},
		} {
			if e := mcptest.CallFails(t, cs, c.tool, c.args); e.Code != registry.CodeNotFound || e.Message == "" {
				t.Errorf("%s(%v): %+v", c.tool, c.args, e)
			}
		}
	})
	t.Run("arguments that break the input schema are a tool error with the envelope", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "wait_seconds": 301})
		if e.Code != registry.CodeInvalidArgument || !strings.Contains(e.Message, "wait_seconds") {
			t.Errorf("wait_seconds 301: %+v", e)
		}
	})
}

func TestMissingConnectionIsReportedByTheCall(t *testing.T) {
	for _, env := range []string{client.EnvServerURL, client.EnvAuthToken, client.EnvProject} {
		t.Setenv(env, "")
	}
	t.Setenv(client.EnvConfigDir, t.TempDir())
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{})) // the server starts without a connection

	t.Run("a call says what to set", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolList, nil)
		if e.Code != registry.CodePreconditionFailed || !strings.Contains(e.Message, client.EnvServerURL) || !strings.Contains(e.Message, "kitaru login") {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("a tag and a version together are refused before the connection is needed", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "tag": "stable", "version": 2})
		if e.Code != registry.CodeInvalidArgument {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("a since that is neither a time nor a duration is refused before the connection is needed", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolExecutionList, map[string]any{"flow": "research_agent", "since": "yesterday"})
		if e.Code != registry.CodeInvalidArgument || !strings.Contains(e.Message, "RFC 3339") {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("a deploy from source says what to set too", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolDeploy, map[string]any{"target": "flows/research.py:research_agent"})
		if e.Code != registry.CodePreconditionFailed || !strings.Contains(e.Message, client.EnvServerURL) {
			t.Errorf("got %+v", e)
		}
	})
}

// TestDeployToolDeploysFromSource: the deploy tool bundles and deploys as
// kitaru deploy does, and what it could not check goes to Warnings.
func TestDeployToolDeploysFromSource(t *testing.T) {
	startDev(t)
	t.Setenv(pysig.PythonEnv, filepath.Join(t.TempDir(), "no-python"))
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "..", "testdata", "flows", "research"))); err != nil {
		t.Fatal(err)
	}
	var warnings strings.Builder
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{Warnings: &warnings}))

	d := mcptest.Call[registry.Deployment](t, cs, mcpserver.ToolDeploy, map[string]any{
		"target": filepath.Join(root, "flows", "research.py") + ":research_agent", "inputs": map[string]any{"topic": "durable agents"}})
	if d.Version != 1 || d.Entrypoint != "flows/research.py:research_agent" || d.Source == nil || string(d.Inputs) != `{"topic":"durable agents"}` {
		t.Errorf("deployment %+v", d)
	}
	if !strings.Contains(warnings.String(), "cannot check that") {
		t.Errorf("warnings %q; want the missing python3 named", warnings.String())
	}
}

// TestBuildToolSavesAnUnroutedVersion: the build tool bundles as deploy
// does, and a flow's second build holds no tag.
func TestBuildToolSavesAnUnroutedVersion(t *testing.T) {
	startDev(t)
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(filepath.Join("..", "..", "testdata", "flows", "research"))); err != nil {
		t.Fatal(err)
	}
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))
	args := map[string]any{"target": filepath.Join(root, "flows", "research.py") + ":research_agent", "inputs": map[string]any{"topic": "builds"}, "description": "staged"}
	first := mcptest.Call[registry.Deployment](t, cs, mcpserver.ToolBuild, args)
	second := mcptest.Call[registry.Deployment](t, cs, mcpserver.ToolBuild, args)
	if first.Version != 1 || !first.Tags["default"] || len(first.Tags) != 1 {
		t.Errorf("first build %+v; want v1 with default", first)
	}
	if second.Version != 2 || len(second.Tags) != 0 || second.Description != "staged" || second.Source == nil {
		t.Errorf("second build %+v; want v2 with no tag", second)
	}
	res := mcptest.Call[registry.Resolution](t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent"})
	if res.Deployment.Version != 1 {
		t.Errorf("default resolves to v%d; want 1", res.Deployment.Version)
	}
	// Secrets are declared by name; setting them may come later (an
	// invoke names the missing ones: secret_missing).
	args["secrets"] = []string{"OPENAI_API_KEY"}
	for _, tool := range []string{mcpserver.ToolBuild, mcpserver.ToolDeploy} {
		if d := mcptest.Call[registry.Deployment](t, cs, tool, args); !slices.Equal(d.Secrets, []string{"OPENAI_API_KEY"}) {
			t.Errorf("%s with secrets: the version declares %v", tool, d.Secrets)
		}
	}
}
