package devstack_test

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// hubWaiters counts the requests blocked in kitaru dev's execwatch.Hub (the
// server runs in this process).
func hubWaiters() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "execwatch.(*Hub).Wait(")
}

func TestWaitingForExecutionsOnDev(t *testing.T) {
	if _, err := os.Stat("/usr/bin/env"); err != nil {
		t.Skip("no /usr/bin/env")
	}
	a := startDev(t)
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "x"}})
	a.deployProject("behaviours", "flows/behaviours.py:sleeps", map[string]any{"inputs": map[string]any{"seconds": 600}})
	c, err := client.New(a.url, client.WithAuthToken(a.key))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("invoke, then the Go client's Wait gets the completed execution", func(t *testing.T) {
		h, err := c.Deployments().Invoke(ctx, "research_agent", client.InvokeOptions{Inputs: map[string]any{"topic": "waiting"}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := h.Wait(ctx)
		if err != nil || got.Status != registry.StatusCompleted || string(got.Result) != `"research notes on waiting"` {
			t.Fatalf("Wait = %+v, %v", got, err)
		}
	})

	t.Run("a cancel wakes a reader held by ?wait=", func(t *testing.T) {
		h, err := c.Deployments().Invoke(ctx, "sleeps", client.InvokeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		held := make(chan registry.Execution, 1)
		go func() {
			var e registry.Execution
			if status := a.do("GET", "/v1/executions/"+h.ExecID+"?wait=20s", nil, nil, &e); status != http.StatusOK {
				t.Errorf("held read: status %d", status)
			}
			held <- e
		}()
		for hubWaiters() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := c.Executions().Cancel(ctx, h.ExecID); err != nil {
			t.Fatal(err)
		}
		if e := <-held; e.Status != registry.StatusCancelled || !time.Now().Before(deadline) {
			t.Fatalf("the held read answered %s; want cancelled before its 20 s wait passed", e.Status)
		}
	})
}
