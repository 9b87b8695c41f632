package devstack_test

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// BenchmarkInvocationsThroughDev sends 200 invocations of a trivial flow per
// iteration through kitaru dev (8 at a time) and reports the p50/p99 time
// from request to `running` (the 202) and to `completed` (seen by polling
// GET /v1/executions/{id} every 10 ms). Each run starts python3.
func BenchmarkInvocationsThroughDev(b *testing.B) {
	a := startDevB(b)
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "x"}})
	const n, workers = 200, 8
	var toRunning, toCompleted []time.Duration
	for b.Loop() {
		var mu sync.Mutex
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range jobs {
					start := time.Now()
					var e registry.Execution
					if status := a.do("POST", "/v1/flows/research_agent/invocations", map[string]any{"inputs": map[string]any{"topic": "bench"}}, nil, &e); status != http.StatusAccepted {
						b.Errorf("invoke: %d", status)
						return
					}
					running := time.Since(start)
					for {
						var got registry.Execution
						a.do("GET", "/v1/executions/"+e.ExecID, nil, nil, &got)
						if got.Status.Terminal() {
							if got.Status != registry.StatusCompleted {
								b.Errorf("%s ended %s: %+v", e.ExecID, got.Status, got.Error)
							}
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
					mu.Lock()
					toRunning, toCompleted = append(toRunning, running), append(toCompleted, time.Since(start))
					mu.Unlock()
				}
			})
		}
		for i := range n {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
	}
	report := func(ds []time.Duration, name string) {
		slices.Sort(ds)
		b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
		b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
	}
	report(toRunning, "running")
	report(toCompleted, "completed")
}
