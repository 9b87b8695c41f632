package dynamo_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// Benchmarks report DynamoDB round trips per operation (counted by an SDK
// middleware, one per API operation; the SDK's retries are not counted) next to the time. Run: make bench.

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

// rowEngine is the engine issue 15's rows are measured on: DynamoDB Local
// when DYNAMODB_ENDPOINT is set (the engine of record), else minidyn.
func rowEngine(b *testing.B) *fixture {
	list := engines(b)
	e := list[len(list)-1]
	b.Logf("engine: %s", e.name)
	return newFixture(b, e, false, nil)
}

// timeAtOnce runs fn n times at once and returns the wall time.
func timeAtOnce(n int, fn func()) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(fn)
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkRowConcurrentDeploy64 is issue 15's contention row: 64 plain
// deploys of one fresh flow at once per iteration. The floor, measured in the
// same iterations on the same engine, is what allocation alone costs: 64
// concurrent (counter UpdateItem + conditional PutItem of a version-sized
// item). Reports round trips per deploy and the batch's wall time against the
// floor's.
func BenchmarkRowConcurrentDeploy64(b *testing.B) {
	const n = 64
	f := rowEngine(b)
	inputs := `{"name": "bench", "count": 3}`
	var deployWall, floorWall time.Duration
	var deployTrips, floorTrips int64
	i := 0
	for b.Loop() {
		i++
		pk := fmt.Sprintf("FLOOR#%d", i)
		before := f.trips.Load()
		floorWall += timeAtOnce(n, func() {
			out, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(f.table), Key: keyOf(pk, "COUNTER"),
				UpdateExpression:          aws.String("ADD #n :one"),
				ExpressionAttributeNames:  map[string]string{"#n": "next"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
				ReturnValues:              types.ReturnValueUpdatedNew,
			})
			if err != nil {
				b.Error(err)
				return
			}
			var next struct {
				N int `dynamodbav:"next"`
			}
			if err := attributevalue.UnmarshalMap(out.Attributes, &next); err != nil {
				b.Error(err)
				return
			}
			item := keyOf(pk, fmt.Sprintf("V#%010d", next.N))
			item["entrypoint"] = &types.AttributeValueMemberS{Value: "f.py:bench"}
			item["inputs"] = &types.AttributeValueMemberS{Value: inputs}
			item["stack"] = &types.AttributeValueMemberS{Value: "dev"}
			if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: aws.String(f.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)"),
			}); err != nil {
				b.Error(err)
			}
		})
		floorTrips += f.trips.Load() - before
		flow := fmt.Sprintf("bench_race_%d", i)
		before = f.trips.Load()
		deployWall += timeAtOnce(n, func() {
			if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:" + flow, Inputs: json.RawMessage(inputs), Stack: "dev", By: "bench"}); err != nil {
				b.Error(err)
			}
		})
		deployTrips += f.trips.Load() - before
	}
	deploys := float64(b.N * n)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(float64(deployTrips)/deploys, "trips/deploy")
	b.ReportMetric(float64(floorTrips)/deploys, "floor-trips/deploy")
	b.ReportMetric(ms(deployWall), "ms/64-deploys")
	b.ReportMetric(ms(floorWall), "floor-ms/64-deploys")
	b.ReportMetric(float64(deployWall)/float64(floorWall), "x-floor")
}

// BenchmarkRowListFlows is issue 15's list-flows row: round trips for the
// first page of flow summaries (default page size) of a project with 1,000
// flows. The floor is 2: one query of the flow index, one batch read.
func BenchmarkRowListFlows(b *testing.B) {
	const flows, floor = 1000, 2
	f := rowEngine(b)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				benchDeploy(b, f, fmt.Sprintf("bench_flow_%04d", i))
			}
		})
	}
	for i := range flows {
		work <- i
	}
	close(work)
	wg.Wait()
	before := f.trips.Load()
	for b.Loop() {
		p, err := f.store.ListFlows(ctx, project, registry.PageRequest{})
		if err != nil || len(p.Items) != registry.DefaultPageSize {
			b.Fatalf("%d flows, %v", len(p.Items), err)
		}
	}
	trips := float64(f.trips.Load()-before) / float64(b.N)
	b.ReportMetric(trips, "trips/page")
	b.ReportMetric(floor, "floor-trips/page")
	b.ReportMetric(trips/floor, "x-floor")
}
