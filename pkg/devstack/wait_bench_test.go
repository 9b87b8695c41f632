package devstack_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// BenchmarkRowWaitLatency is issue 15's row "--wait latency after the run
// ends": kitaru dev runs a trivial flow per iteration while the Go client
// waits on it (Handle.Wait, GET ?wait=), and it reports the p50 time from
// the moment the outcome is recorded and published to the waiters to the
// client holding the completed execution, as ms/after-end. The floor is a
// plain GET of the ended execution sent at once: one loopback round trip
// through the same gateway, authorizer and store read, measured in the same
// run. ms/after-ended_at adds the recording of the outcome (from ended_at,
// stamped as the run returned): the store's write, not the wait.
func BenchmarkRowWaitLatency(b *testing.B) {
	a := startDevB(b)
	var published sync.Map // exec id → time.Time
	a.srv.OnOutcomePublished(func(_, execID string) { published.Store(execID, time.Now()) })
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "x"}})
	c, err := client.New(a.url, client.WithAuthToken(a.key))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var afterEnd, afterEndedAt, floor []time.Duration
	for b.Loop() {
		h, err := c.Deployments().Invoke(ctx, "research_agent", client.InvokeOptions{})
		if err != nil {
			b.Fatal(err)
		}
		got, err := h.Wait(ctx)
		held := time.Now()
		if err != nil || got.Status != registry.StatusCompleted || got.EndedAt == nil {
			b.Fatalf("Wait = %+v, %v", got, err)
		}
		at, ok := published.Load(h.ExecID)
		if !ok {
			b.Fatalf("execution %s ended but its outcome was never published", h.ExecID)
		}
		afterEnd = append(afterEnd, held.Sub(at.(time.Time)))
		afterEndedAt = append(afterEndedAt, held.Sub(*got.EndedAt))
		start := time.Now()
		if _, err := c.Executions().Get(ctx, h.ExecID); err != nil {
			b.Fatal(err)
		}
		floor = append(floor, time.Since(start))
	}
	p50 := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	figure, base := p50(afterEnd), p50(floor)
	b.ReportMetric(figure, "ms/after-end")
	b.ReportMetric(base, "floor-ms/after-end")
	b.ReportMetric(figure/base, "x-floor")
	b.ReportMetric(p50(afterEndedAt), "ms/after-ended_at")
}
