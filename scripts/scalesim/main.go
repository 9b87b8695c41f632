// Command scalesim drives a mixed workload through the real HTTP handlers
// under the throttling simulator (pkg/throttle), in virtual time, and
// prints achieved rates against issue 20's targets. `make scale-sim` runs
// it; docs/scale-sim.md describes the model and how to read the report.
//
// It exits non-zero only when the harness itself fails; missed targets are
// printed as FAIL.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/throttle"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "scalesim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("scalesim", flag.ContinueOnError)
	seconds := fs.Float64("seconds", 3, "virtual seconds each scenario is measured for, after a second of warm-up")
	workers := fs.Int("workers", 32, "requests in flight at once (real goroutines; virtual time is set per request)")
	scope := fs.String("scope", "key", "DynamoDB budget scope: key (per partition key) or item (per item, after split for heat)")
	raised := fs.Float64("raised-quota", 12000, "StartExecution refill per second of the raised-quota runs (bucket: the same plus 1,000)")
	raisedTable := fs.Float64("raised-table-quota", 120000, "the table's read and write units per second in the raised-quota runs (on-demand default: 40,000 each)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	only := fs.String("scenarios", "", "comma-separated scenario names to run (default all)")
	instances := fs.Int("instances", 150, "invoke-function instances, each with its own route cache (the stack's default kitaru:invokeConcurrency)")
	bound := fs.Duration("route-cache", time.Second, "the route cache's bound (KITARU_ROUTE_CACHE_BOUND); 0 runs every invoke on a store read")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer func() { _ = f.Close() }()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	limits := throttle.PartitionLimits()
	switch *scope {
	case "key":
	case "item":
		limits.Scope = throttle.PerItem
	default:
		return fmt.Errorf("-scope is %q; use key or item", *scope)
	}
	archive, err := bundletest.ResearchArchive()
	if err != nil {
		return err
	}

	// Both account quotas on an invoke's path are adjustable: the raised
	// runs raise them together, so what remains is the design's own limits.
	raisedLimits := limits
	raisedLimits.TableReadUnits, raisedLimits.TableWriteUnits = *raisedTable, *raisedTable
	quotas := []quota{
		{"default (STANDARD StartExecution, 40,000-unit table)", throttle.StandardStartExecution, limits},
		{fmt.Sprintf("raised (StartExecution %.0f/s, %.0f-unit table)", *raised, *raisedTable), throttle.Quota{Burst: *raised + 1000, PerSecond: *raised}, raisedLimits},
	}
	started := time.Now()
	fmt.Printf("scale-sim: %.1f virtual s per scenario, DynamoDB budgets %s (%.0f RCU / %.0f WCU per s), %d workers, %d invoke instances, route cache %s\n\n",
		*seconds, limits.Scope, limits.ReadUnits, limits.WriteUnits, *workers, *instances, *bound)
	for _, sc := range scenarios() {
		if *only != "" && !containsName(*only, sc.name) {
			continue
		}
		for _, q := range quotas {
			env := environment{limits: q.limits, quota: q.quota, archive: archive, logger: slog.New(slog.DiscardHandler),
				instances: *instances, bound: *bound}
			rep, err := simulate(context.Background(), env, sc, time.Duration(*seconds*float64(time.Second)), *workers)
			if err != nil {
				return fmt.Errorf("scenario %s (%s quota): %w", sc.name, q.name, err)
			}
			rep.quota = q.name
			rep.print(os.Stdout)
		}
	}
	fmt.Printf("wall time %s\n", time.Since(started).Round(time.Millisecond))
	return nil
}

type quota struct {
	name   string
	quota  throttle.Quota
	limits throttle.Limits
}

func containsName(list, name string) bool {
	for _, n := range strings.Split(list, ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

// mustJSON encodes v; the values are the harness's own.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(errors.Join(errors.New("encode request body"), err))
	}
	return string(b)
}
