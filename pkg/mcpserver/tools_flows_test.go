package mcpserver_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
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

func TestFlowsDiffToolOnKitaruDev(t *testing.T) {
	c := startDev(t)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "durable agents"}`, "", false)
	deploySDK(t, c, "research", "flows/research.py:research_agent", "research_agent", `{"topic": "routing"}`, "canary", true)
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))

	t.Run("a version and a tag are compared, the tag resolved", func(t *testing.T) {
		d := mcptest.Call[api.DeploymentDiff](t, cs, mcpserver.ToolFlowsDiff, map[string]any{"flow": "research_agent", "from": "1", "to": "canary"})
		if d.To.Version != 2 || d.To.Tag != "canary" || d.Identical || !d.Source.SameBundle ||
			len(d.Inputs) != 1 || d.Inputs[0].Key != "topic" || string(d.Inputs[0].After) != `"routing"` {
			t.Errorf("diff = %+v", d)
		}
	})
	t.Run("an unknown tag is not_found with its reason", func(t *testing.T) {
		e := mcptest.CallFails(t, cs, mcpserver.ToolFlowsDiff, map[string]any{"flow": "research_agent", "from": "1", "to": "nightly"})
		if e.Code != registry.CodeNotFound || e.Details[registry.DetailReason] != registry.ReasonTagNotFound {
			t.Errorf("error = %+v", e)
		}
	})
}
