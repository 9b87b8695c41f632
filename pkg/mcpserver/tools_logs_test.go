package mcpserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestExecutionLogsToolOnKitaruDev(t *testing.T) {
	c := startDev(t)
	deploySDK(t, c, "behaviours", "flows/behaviours.py:fails", "fails", `{"message": "logged failure"}`, "", false)
	cs := mcptest.Connect(t, mcpserver.New(mcpserver.Config{}))
	h, err := c.Deployments().Invoke(context.Background(), "fails", client.InvokeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Wait(context.Background()); err == nil {
		t.Fatal("fails completed")
	}

	t.Run("the log of an ended execution is read to its end, then nothing follows", func(t *testing.T) {
		page := mcptest.Call[api.ExecutionLog](t, cs, mcpserver.ToolExecutionLogs, map[string]any{"exec_id": h.ExecID})
		if !page.Ended || page.Status != registry.StatusFailed || !strings.Contains(page.Data, "ValueError: logged failure") {
			t.Fatalf("page %+v", page)
		}
		next := mcptest.Call[api.ExecutionLog](t, cs, mcpserver.ToolExecutionLogs, map[string]any{"exec_id": h.ExecID, "cursor": page.NextCursor})
		if next.Data != "" || !next.Ended || next.NextCursor != page.NextCursor {
			t.Errorf("after the end: %+v", next)
		}
	})
	t.Run("an unknown execution is not_found and a bad cursor invalid_argument", func(t *testing.T) {
		if e := mcptest.CallFails(t, cs, mcpserver.ToolExecutionLogs, map[string]any{"exec_id": "ex_00000000000000000000000000"}); e.Code != registry.CodeNotFound {
			t.Errorf("unknown: %+v", e)
		}
		if e := mcptest.CallFails(t, cs, mcpserver.ToolExecutionLogs, map[string]any{"exec_id": h.ExecID, "cursor": "nope"}); e.Code != registry.CodeInvalidArgument {
			t.Errorf("bad cursor: %+v", e)
		}
	})
}
