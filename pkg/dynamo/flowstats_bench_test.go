package dynamo_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/flowstats"
	"github.com/kitaru/deployments/pkg/registry"
)

// BenchmarkFlowStats measures one flow stats answer (pkg/flowstats) over a
// flow with 1,000 executions in the window, 1 in 10 failed with a
// traceback: DynamoDB round trips, response bytes from the engine, and the
// read capacity the listing copies read cost (consistent reads, rounded up
// to 4 KB per query page).
func BenchmarkFlowStats(b *testing.B) {
	const n = 1000
	for _, e := range engines(b) {
		b.Run(e.name, func(b *testing.B) {
			f := newFixture(b, e, false, nil)
			now := time.Now().UTC()
			benchDeploy(b, f, "bench_stats")
			if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "bench_stats", Tag: "live", Version: 1, Exclusive: true}); err != nil {
				b.Fatal(err)
			}
			traceback := strings.Repeat("  File \"flows/agent.py\", line 42, in agent\n    raise ValueError(topic)\n", 15)
			for i := range n {
				ex := registry.Execution{Project: project, ExecID: fmt.Sprintf("ex_%026d", i+1), Flow: "bench_stats", Version: 1,
					Snapshot: registry.SnapshotName("bench_stats", 1), Selector: registry.Selector{Tag: "live"}, Status: registry.StatusRunning,
					Inputs: json.RawMessage(`{"topic": "deployment routing", "depth": 3}`), InvokedBy: "bench",
					StartedAt: now.Add(time.Duration(i-n) * time.Minute)}
				if _, _, err := f.store.CreateExecution(ctx, ex); err != nil {
					b.Fatal(err)
				}
				o := registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(`{"summary": "routing is a release tool", "sources": 12}`),
					At: ex.StartedAt.Add(time.Duration(1+i%7) * time.Second)}
				if i%10 == 0 {
					o = registry.Outcome{Status: registry.StatusFailed, At: ex.StartedAt.Add(time.Second),
						Error: &registry.ExecError{Type: "ValueError", Message: "deployment routing", Traceback: traceback}}
				}
				if _, _, err := f.store.FinishExecution(ctx, project, ex.ExecID, o); err != nil {
					b.Fatal(err)
				}
			}
			var trips, attempts, body atomic.Int64
			db, err := defaultconfig.NewClient(ctx, e.endpoint, dynamo.CountRoundTrips(&trips), dynamo.CountAttempts(&attempts), countResponseBytes(&body))
			if err != nil {
				b.Fatal(err)
			}
			rcu, listed := listingCapacity(b, db, f.table, "bench_stats")
			svc := flowstats.Service{Store: dynamo.New(db, f.table), Now: func() time.Time { return now }}
			for _, q := range []flowstats.Query{{}, {Tag: "live", Since: now.Add(-time.Hour)}} {
				name := "route/since=24h"
				if q.Tag != "" {
					name = "tag/since=1h"
				}
				q.Project, q.Flow = project, "bench_stats"
				b.Run(name, func(b *testing.B) {
					trips.Store(0)
					attempts.Store(0)
					body.Store(0)
					var st flowstats.Stats
					for b.Loop() {
						if st, err = svc.Stats(ctx, q); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(st.Read), "records/op")
					b.ReportMetric(float64(trips.Load())/float64(b.N), "roundtrips/op")
					b.ReportMetric(float64(attempts.Load())/float64(b.N), "attempts/op")
					b.ReportMetric(float64(body.Load())/float64(b.N)/1024, "KiB-read/op")
					if q.Tag == "" {
						b.ReportMetric(rcu, "RCU/op")
						b.ReportMetric(float64(listed), "listing-bytes/record")
					}
				})
			}
		})
	}
}

// listingCapacity is what reading every listing copy of flow costs in
// consistent-read capacity, from its 32 listing shards and its own partition
// (copies of builds before sharding) in pages of 200 as ListExecutionsBy
// queries, and the copies' mean size.
func listingCapacity(b *testing.B, db *dynamodb.Client, table, flow string) (rcu float64, meanSize int) {
	sources := []string{"P#" + project + "#F#" + flow}
	for shard := range 32 {
		sources = append(sources, fmt.Sprintf("P#%s#F#%s#X#%02d", project, flow, shard))
	}
	total, items := 0, 0
	for _, pk := range sources {
		var start map[string]types.AttributeValue
		for {
			out, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(table),
				KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :x)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pk": &types.AttributeValueMemberS{Value: pk}, ":x": &types.AttributeValueMemberS{Value: "X#"}},
				Limit: aws.Int32(200), ExclusiveStartKey: start, ConsistentRead: aws.Bool(true)})
			if err != nil {
				b.Fatal(err)
			}
			page := 0
			for _, item := range out.Items {
				page += itemSize(item)
			}
			total, items = total+page, items+len(out.Items)
			rcu += float64(max(1, (page+4095)/4096)) // a query reads at least one unit
			if start = out.LastEvaluatedKey; len(start) == 0 {
				break
			}
		}
	}
	if items == 0 {
		b.Fatal("no listing copies")
	}
	return rcu, total / items
}

// countResponseBytes adds every response body's size to n.
func countResponseBytes(n *atomic.Int64) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.HTTPClient = countingClient{inner: o.HTTPClient, n: n}
	}
}

type countingClient struct {
	inner interface {
		Do(*http.Request) (*http.Response, error)
	}
	n *atomic.Int64
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.inner.Do(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	return k, err
}
