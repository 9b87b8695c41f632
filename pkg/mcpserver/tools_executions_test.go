package mcpserver_test

import (
	"testing"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestExecutionListAndWaitToolsOnKitaruDev(t *testing.T) {
	c := startDev(t)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "", false)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "canary", true)
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))
	started := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "tag": "canary"})
	mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "version": 1, "wait_seconds": 60})

	t.Run("wait answers the execution once it ended", func(t *testing.T) {
		e := mcptest.Call[registry.Execution](t, cs, mcpserver.ToolExecutionWait, map[string]any{"exec_id": started.ExecID, "wait_seconds": 60})
		if e.Status != registry.StatusCompleted || len(e.Result) == 0 {
			t.Errorf("execution %+v", e)
		}
	})
	t.Run("list by tag keeps the executions invoked through it", func(t *testing.T) {
		p := mcptest.Call[client.Page[registry.Execution]](t, cs, mcpserver.ToolExecutionList, map[string]any{"flow": "research_agent", "tag": "canary", "since": "1h"})
		if len(p.Items) != 1 || p.Items[0].ExecID != started.ExecID {
			t.Errorf("page %+v", p)
		}
	})
	t.Run("list by version and status", func(t *testing.T) {
		p := mcptest.Call[client.Page[registry.Execution]](t, cs, mcpserver.ToolExecutionList, map[string]any{"flow": "research_agent", "version": 1, "status": "completed"})
		if len(p.Items) != 1 || p.Items[0].Version != 1 {
			t.Errorf("page %+v", p)
		}
	})
	t.Run("bad arguments are invalid_argument", func(t *testing.T) {
		for _, call := range []struct {
			tool string
			args map[string]any
		}{
			{mcpserver.ToolExecutionList, map[string]any{"flow": "research_agent", "since": "yesterday"}},
			{mcpserver.ToolExecutionWait, map[string]any{"exec_id": started.ExecID, "wait_seconds": 400}},
		} {
			if e := mcptest.CallFails(t, cs, call.tool, call.args); e.Code != registry.CodeInvalidArgument {
				t.Errorf("%s %v: %+v", call.tool, call.args, e)
			}
		}
	})
}
