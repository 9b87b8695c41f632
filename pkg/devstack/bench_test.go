package devstack_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/runnerfiles"
)

// completionPoll is how often the benchmark reads an execution until it
// ends (GET /v1/executions/{id}); the same at every concurrency.
const completionPoll = 5 * time.Millisecond

// BenchmarkRowInvokeCompleted is issue 15's row "invoke → completed, trivial
// flow, kitaru dev": a real kitaru dev over HTTP, research_agent (a format
// string). Each iteration runs 40 executions one at a time, then 80 with 8
// at a time, each timed from POST …/invocations until a GET sees it
// completed. It reports the p50 at concurrency 1 ("ms/p50-c1"), throughput
// at 1 and 8 (executions/s) and their ratio, and the floor measured in the
// same run: `python -S -c pass` started as the runner is, plus the runner's
// own download, unpack and call of the same bundle in a warm interpreter.
func BenchmarkRowInvokeCompleted(b *testing.B) {
	a := startDevB(b)
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "x"}})
	invokeOnce := func() time.Duration {
		start := time.Now()
		var e registry.Execution
		if status := a.do("POST", "/v1/flows/research_agent/invocations", map[string]any{"inputs": map[string]any{"topic": "bench"}}, nil, &e); status != http.StatusAccepted {
			b.Fatalf("invoke: %d", status)
		}
		for {
			var got registry.Execution
			a.do("GET", "/v1/executions/"+e.ExecID, nil, nil, &got)
			if got.Status.Terminal() {
				if got.Status != registry.StatusCompleted {
					b.Fatalf("%s ended %s: %+v", e.ExecID, got.Status, got.Error)
				}
				return time.Since(start)
			}
			time.Sleep(completionPoll)
		}
	}
	// rate runs n executions, workers at a time, and returns executions/s
	// and each one's latency.
	rate := func(n, workers int) (float64, []time.Duration) {
		var mu sync.Mutex
		var took []time.Duration
		jobs := make(chan int)
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Go(func() {
				for range jobs {
					d := invokeOnce()
					mu.Lock()
					took = append(took, d)
					mu.Unlock()
				}
			})
		}
		for i := range n {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
		return float64(n) / time.Since(start).Seconds(), took
	}
	invokeOnce() // the first run may start the fork server
	var c1 []time.Duration
	var tp1, tp8 []float64
	for b.Loop() {
		r1, took := rate(40, 1)
		r8, _ := rate(80, 8)
		c1 = append(c1, took...)
		tp1, tp8 = append(tp1, r1), append(tp8, r8)
	}
	b.StopTimer()
	floor := interpreterStart(b) + warmRunnerCall(b)
	p50 := median(c1)
	b.ReportMetric(ms(p50), "ms/p50-c1")
	b.ReportMetric(ms(floor), "floor-ms/p50-c1")
	b.ReportMetric(float64(p50)/float64(floor), "x-floor")
	b.ReportMetric(medianF(tp1), "exec/s-c1")
	b.ReportMetric(medianF(tp8), "exec/s-c8")
	b.ReportMetric(medianF(tp8)/medianF(tp1), "c8/c1")
}

// interpreterStart is the p50 of starting `python3 -S -c pass` (the real
// executable behind python3) with the runs' minimal environment.
func interpreterStart(b *testing.B) time.Duration {
	python := realPython(b)
	var took []time.Duration
	for range 20 {
		cmd := exec.Command(python, "-S", "-c", "pass")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	return median(took)
}

// warmRunnerCall is the p50 of runner.run(event) for the benchmark's flow in
// one interpreter that has imported the runner: download over loopback
// HTTP, check, unpack, import and call, remove.
func warmRunnerCall(b *testing.B) time.Duration {
	bun, err := bundle.Build(filepath.Join(repoRoot(b), "testdata", "flows", "research"))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(bun.Data) }))
	defer srv.Close()
	dir := b.TempDir()
	if err := runnerfiles.Write(dir); err != nil {
		b.Fatal(err)
	}
	event, _ := json.Marshal(map[string]any{
		"entrypoint": "flows/research.py:research_agent", "inputs": map[string]any{"topic": "bench"},
		"bundle": map[string]any{"url": srv.URL + "/b.tar.gz", "digest": bun.Digest},
	})
	script := fmt.Sprintf(`
import json, sys, time
sys.path.insert(0, %q)
import runner
for m in runner.PRELOAD:
    __import__(m)
event = json.loads(%q)
runner.run(event)
took = []
for _ in range(20):
    start = time.perf_counter()
    runner.run(event)
    took.append(time.perf_counter() - start)
took.sort()
print(took[len(took) // 2])
`, dir, event)
	out, err := exec.Command(realPython(b), "-c", script).Output()
	if err != nil {
		b.Fatalf("the warm runner: %v", err)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Duration(secs * float64(time.Second))
}

// realPython is the executable behind python3 (a pyenv shim would add its
// own start to the floor).
func realPython(b *testing.B) string {
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		b.Skip("python3 is not installed")
	}
	python := strings.TrimSpace(string(out))
	if _, err := os.Stat(python); err != nil {
		b.Fatal(err)
	}
	return python
}

func median(ds []time.Duration) time.Duration {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func medianF(fs []float64) float64 {
	fs = slices.Clone(fs)
	slices.Sort(fs)
	return fs[len(fs)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
