package dynamo_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Benchmarks report DynamoDB round trips per operation (counted by an SDK
// middleware, retries included) next to the time. Run: make bench.

func benchEngines(b *testing.B, fn func(b *testing.B, f *fixture)) {
	for _, e := range engines(b) {
		b.Run(e.name, func(b *testing.B) { fn(b, newFixture(b, e, false, nil)) })
	}
}

func reportTrips(b *testing.B, f *fixture, before int64, ops int) {
	b.ReportMetric(float64(f.trips.Load()-before)/float64(ops), "roundtrips/op")
}

func benchDeploy(b *testing.B, f *fixture, flow string) registry.Deployment {
	d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:" + flow, Stack: "dev", By: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func BenchmarkDeploy(b *testing.B) {
	benchEngines(b, func(b *testing.B, f *fixture) {
		benchDeploy(b, f, "bench_deploy")
		before := f.trips.Load()
		for b.Loop() {
			benchDeploy(b, f, "bench_deploy")
		}
		reportTrips(b, f, before, b.N)
	})
}

func BenchmarkTagMove(b *testing.B) {
	benchEngines(b, func(b *testing.B, f *fixture) {
		benchDeploy(b, f, "bench_tag")
		benchDeploy(b, f, "bench_tag")
		before := f.trips.Load()
		i := 0
		for b.Loop() {
			i++
			if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "bench_tag", Tag: "stable", Version: 1 + i%2, Exclusive: true}); err != nil {
				b.Fatal(err)
			}
		}
		reportTrips(b, f, before, b.N)
	})
}

// BenchmarkKeyedTagMove is BenchmarkTagMove sent with an Idempotency-Key,
// as the HTTP handler runs it (claim, move, store the answer), and the
// replay of a repeated key (the claim alone answers it).
func BenchmarkKeyedTagMove(b *testing.B) {
	benchEngines(b, func(b *testing.B, f *fixture) {
		benchDeploy(b, f, "bench_keyed")
		benchDeploy(b, f, "bench_keyed")
		answer := registry.StoredResponse{Status: 200, Body: `{"flow":"bench_keyed","name":"stable","exclusive":true,"versions":[1],"revision":2}` + "\n"}
		claim := func(i int) registry.IdempotencyClaim {
			return registry.IdempotencyClaim{Project: project, Principal: "bench", Key: fmt.Sprintf("key-%d", i), Fingerprint: "fp", Token: fmt.Sprintf("t-%d", i)}
		}
		b.Run("first", func(b *testing.B) {
			before := f.trips.Load()
			i := 0
			for b.Loop() {
				i++
				c := claim(i)
				if _, claimed, err := f.store.ClaimIdempotencyKey(ctx, c); err != nil || !claimed {
					b.Fatal(claimed, err)
				}
				if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "bench_keyed", Tag: "stable", Version: 1 + i%2, Exclusive: true}); err != nil {
					b.Fatal(err)
				}
				if err := f.store.CompleteIdempotencyKey(ctx, c, answer); err != nil {
					b.Fatal(err)
				}
			}
			reportTrips(b, f, before, b.N)
		})
		b.Run("replay", func(b *testing.B) {
			before := f.trips.Load()
			for b.Loop() {
				if _, claimed, err := f.store.ClaimIdempotencyKey(ctx, claim(1)); err != nil || claimed {
					b.Fatal(claimed, err)
				}
			}
			reportTrips(b, f, before, b.N)
		})
	})
}

func BenchmarkResolve(b *testing.B) {
	benchEngines(b, func(b *testing.B, f *fixture) {
		for _, n := range []int{10, 1000} {
			flow := fmt.Sprintf("bench_resolve_%d", n)
			for range n {
				benchDeploy(b, f, flow)
			}
			if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "stable", Version: n / 2, Exclusive: true}); err != nil {
				b.Fatal(err)
			}
			for _, sel := range []registry.Selector{{Tag: "stable"}, {Version: n / 2}} {
				b.Run(fmt.Sprintf("%s/versions=%d", sel, n), func(b *testing.B) {
					before := f.trips.Load()
					for b.Loop() {
						if _, err := f.store.Resolve(ctx, project, flow, sel); err != nil {
							b.Fatal(err)
						}
					}
					reportTrips(b, f, before, b.N)
				})
			}
		}
	})
}

// BenchmarkConcurrentDeploy64 runs 64 deploys of one fresh flow at once per
// iteration and reports the batch's wall time and the mean round trips per deploy.
func BenchmarkConcurrentDeploy64(b *testing.B) {
	benchEngines(b, func(b *testing.B, f *fixture) {
		const n = 64
		before := f.trips.Load()
		var total time.Duration
		i := 0
		for b.Loop() {
			i++
			flow := fmt.Sprintf("bench_race_%d", i)
			start := time.Now()
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() { benchDeploy(b, f, flow) })
			}
			wg.Wait()
			total += time.Since(start)
		}
		b.ReportMetric(float64(f.trips.Load()-before)/float64(b.N*n), "roundtrips/deploy")
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/64-deploys")
	})
}
