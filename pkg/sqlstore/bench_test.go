package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sqlstore"
)

// The issue 15 row "kitaru dev store as the table grows": each registry
// operation on SQLite (a file, as kitaru dev keeps it) at the large size,
// beside DynamoDB Local (the floor, when DYNAMODB_ENDPOINT is set) at the
// same size, and its flatness: the figure at the large size over the
// figure at the small one. Run: go test -run '^$' -bench RowStoreGrowth -benchtime=1x ./pkg/sqlstore/

// growthSize is a registry's size: flows, and versions over all of them.
// One hot flow holds all versions but one per other flow; the operations
// run on it, so it is the largest partition too.
type growthSize struct {
	name            string
	flows, versions int
}

var (
	smallSize = growthSize{"small", 10, 1_000}
	largeSize = growthSize{"large", 1_000, 10_000}
)

const (
	growthProject = "bench"
	hotFlow       = "hot"
)

// growthStores holds the seeded stores of one engine, by size name.
type growthStores map[string]registry.Store

var (
	growthOnce    sync.Once
	growthEngines map[string]growthStores // "sqlite", and "dynamodb-local" when DYNAMODB_ENDPOINT is set
	growthErr     error
)

// seededStores seeds every engine at both sizes once per benchmark run.
func seededStores(b *testing.B) map[string]growthStores {
	b.Helper()
	growthOnce.Do(func() {
		growthEngines = map[string]growthStores{}
		dir, err := os.MkdirTemp("", "kitaru-bench-")
		if err != nil {
			growthErr = err
			return
		}
		opens := map[string]func(size string) (registry.Store, error){
			"sqlite": func(size string) (registry.Store, error) {
				return sqlstore.Open(filepath.Join(dir, size+".db"))
			},
		}
		if endpoint := os.Getenv("DYNAMODB_ENDPOINT"); endpoint != "" {
			opens["dynamodb-local"] = func(size string) (registry.Store, error) {
				db, err := defaultconfig.NewClient(context.Background(), endpoint)
				if err != nil {
					return nil, err
				}
				table := fmt.Sprintf("bench-growth-%s-%d", size, time.Now().UnixNano())
				if err := dynamo.CreateTable(context.Background(), db, table); err != nil {
					return nil, err
				}
				return dynamo.New(db, table), nil
			}
		}
		// Every engine and size seeds at once: DynamoDB Local's hot flow,
		// one deploy after another, takes most of the time.
		var mu sync.Mutex
		var g errgroup.Group
		for engine, open := range opens {
			growthEngines[engine] = growthStores{}
			for _, size := range []growthSize{smallSize, largeSize} {
				g.Go(func() error {
					s, err := open(size.name)
					if err == nil {
						err = seed(s, size)
					}
					if err != nil {
						return fmt.Errorf("seed %s at %s: %w", engine, size.name, err)
					}
					mu.Lock()
					defer mu.Unlock()
					growthEngines[engine][size.name] = s
					return nil
				})
			}
		}
		growthErr = g.Wait()
	})
	if growthErr != nil {
		b.Fatal(growthErr)
	}
	return growthEngines
}

// seed deploys size through the store's API: the hot flow's versions one
// after another, the other flows' single versions beside them; then tags
// v1 of the hot flow stable.
func seed(s registry.Store, size growthSize) error {
	var g errgroup.Group
	g.SetLimit(8)
	g.Go(func() error {
		for range size.versions - (size.flows - 1) {
			if _, err := growthDeploy(s, hotFlow); err != nil {
				return err
			}
		}
		return nil
	})
	for i := 1; i < size.flows; i++ {
		g.Go(func() error {
			_, err := growthDeploy(s, fmt.Sprintf("flow_%04d", i))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	_, err := s.PutTag(context.Background(), registry.TagRequest{Project: growthProject, Flow: hotFlow, Tag: "stable", Version: 1, Exclusive: true, By: "bench"})
	return err
}

func growthDeploy(s registry.Store, flow string) (registry.Deployment, error) {
	return s.Deploy(context.Background(), registry.DeployRequest{Project: growthProject, Flow: flow, Entrypoint: "flows/f.py:" + flow,
		Inputs: []byte(`{"topic":"growth"}`), Stack: "dev", By: "bench"})
}

// growthOps are the measured operations: name (the unit's suffix), how many
// samples, and one call.
var growthOps = []struct {
	name    string
	samples int
	op      func(s registry.Store, i int) error
}{
	{"deploy", 100, func(s registry.Store, _ int) error { _, err := growthDeploy(s, hotFlow); return err }},
	{"tagmove", 100, func(s registry.Store, i int) error {
		_, err := s.PutTag(context.Background(), registry.TagRequest{Project: growthProject, Flow: hotFlow, Tag: "stable", Version: 1 + (i+1)%2, Exclusive: true, By: "bench"})
		return err
	}},
	{"resolve", 200, func(s registry.Store, _ int) error {
		_, err := s.Resolve(context.Background(), growthProject, hotFlow, registry.Selector{Tag: "stable"})
		return err
	}},
	// A first page of 10 flows at both sizes: the small registry has 10.
	{"listflows", 50, func(s registry.Store, _ int) error {
		_, err := s.ListFlows(context.Background(), growthProject, registry.PageRequest{Limit: smallSize.flows})
		return err
	}},
}

// medianMS runs op samples times on each store, interleaved and in a
// rotating order so that drift of the machine and the wake-up after another
// engine's request hit them alike, and returns each store's median in ms.
func medianMS(b *testing.B, stores []registry.Store, samples int, op func(registry.Store, int) error) []float64 {
	b.Helper()
	ds := make([][]time.Duration, len(stores))
	for i := range samples {
		for k := range stores {
			j := (i + k) % len(stores)
			s := stores[j]
			start := time.Now()
			if err := op(s, i); err != nil {
				b.Fatal(err)
			}
			ds[j] = append(ds[j], time.Since(start))
		}
	}
	medians := make([]float64, len(stores))
	for j := range stores {
		slices.Sort(ds[j])
		medians[j] = float64(ds[j][samples/2].Microseconds()) / 1000
	}
	return medians
}

func BenchmarkRowStoreGrowth(b *testing.B) {
	engines := seededStores(b)
	stores := []registry.Store{engines["sqlite"]["small"], engines["sqlite"]["large"]}
	floor, hasFloor := engines["dynamodb-local"]
	if hasFloor {
		stores = append(stores, floor["large"])
	}
	for _, op := range growthOps {
		b.Run(op.name, func(b *testing.B) {
			unit := "ms/" + op.name
			for b.Loop() {
				m := medianMS(b, stores, op.samples, op.op)
				small, large := m[0], m[1]
				b.ReportMetric(large, unit)
				b.ReportMetric(small, "small-"+unit)
				b.ReportMetric(large/small, "flatness") // issue 15: ≤ 1.3
				if hasFloor {
					b.ReportMetric(m[2], "floor-"+unit)
					b.ReportMetric(large/m[2], "x-floor")
					b.ReportMetric(2, "target-x-floor") // issue 15: within 2× of DynamoDB Local
				}
			}
		})
	}
}
