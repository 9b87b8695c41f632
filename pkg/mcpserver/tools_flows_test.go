package mcpserver_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestFlowsDeleteToolOnKitaruDev(t *testing.T) {
	c := startDev(t)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "", false)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "canary", true)
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))

	t.Run("without force a route besides default is a conflict naming it", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolFlowsDelete, map[string]any{"flow": "research_agent"})
		if e.Code != registry.CodeConflict || !strings.Contains(e.Message, "canary") {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("with force it deletes and answers what it removed", func(t *testing.T) {
		d := mcptest.Call[registry.FlowDeletion](t, cs, mcpserver.ToolFlowsDelete, map[string]any{"flow": "research_agent", "force": true})
		if !d.Forced || !slices.Equal(d.Versions, []int{1, 2}) || !slices.Equal(d.Tags["canary"], []int{2}) || d.NextVersion != 3 {
			t.Errorf("deletion %+v", d)
		}
		if e := mcptest.CallFails(t, cs, mcpserver.ToolGet, map[string]any{"flow": "research_agent"}); e.Code != registry.CodeNotFound {
			t.Errorf("resolving the deleted flow: %+v", e)
		}
	})
}

func TestFlowsStatusToolOnKitaruDev(t *testing.T) {
	c := startDev(t)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "", false)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "canary", true)
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))
	mcptest.Call[registry.Execution](t, cs, mcpserver.ToolInvoke, map[string]any{"flow": "research_agent", "tag": "canary", "wait_seconds": 60})

	t.Run("it answers a row per routed version with its outcomes", func(t *testing.T) {
		st := mcptest.Call[client.FlowStats](t, cs, mcpserver.ToolFlowsStatus, map[string]any{"flow": "research_agent", "since": "1h"})
		if len(st.Versions) != 2 || st.Versions[0].Version != 2 || st.Versions[0].Completed != 1 || st.Versions[1].Started != 0 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("a bad since is invalid_argument with its reason, before any request", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolFlowsStatus, map[string]any{"flow": "research_agent", "since": "yesterday"})
		if e.Code != registry.CodeInvalidArgument || e.Details[registry.DetailReason] != registry.ReasonSinceInvalid {
			t.Errorf("got %+v", e)
		}
	})
	t.Run("an unknown flow is not_found", func(t *testing.T) {
		if e := mcptest.CallFails(t, cs, mcpserver.ToolFlowsStatus, map[string]any{"flow": "nope"}); e.Code != registry.CodeNotFound {
			t.Errorf("got %+v", e)
		}
	})
}
