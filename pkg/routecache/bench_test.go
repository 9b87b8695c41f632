package routecache_test

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/routecache"
)

// BenchmarkResolveByTag measures a resolve by tag of a flow with a split
// tag (so the pick runs on every call) straight on the store and through a
// warm route cache: DynamoDB requests per resolve, and ns/op. On minidyn
// always, and on DYNAMODB_ENDPOINT (DynamoDB Local) when it is set.
func BenchmarkResolveByTag(b *testing.B) {
	engines := map[string]engine{"minidyn": newEngine(b)}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		engines["dynamodb-local"] = localEngine(b, ep)
	}
	for name, e := range engines {
		deploy(b, e.store, 3)
		ctx := context.Background()
		if _, err := e.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "canary", Split: registry.Split{2: 90, 3: 10}, Exclusive: true, By: "bench"}); err != nil {
			b.Fatal(err)
		}
		for _, tt := range []struct {
			name     string
			resolver interface {
				Resolve(context.Context, string, string, registry.Selector) (registry.Resolution, error)
			}
		}{
			{"store", e.counted},
			{"warm cache", routecache.New(e.counted, routecache.Config{Bound: time.Hour})},
		} {
			for _, sel := range []registry.Selector{{Tag: registry.DefaultTag}, {Tag: "canary"}} {
				b.Run(name+"/"+tt.name+"/"+sel.Tag, func(b *testing.B) {
					if _, err := tt.resolver.Resolve(ctx, project, flow, sel); err != nil { // warm
						b.Fatal(err)
					}
					before := e.requests.Load()
					for b.Loop() {
						if _, err := tt.resolver.Resolve(ctx, project, flow, sel); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(e.requests.Load()-before)/float64(b.N), "dynamodb-requests/op")
				})
			}
		}
	}
}

// localEngine is a fresh table on a DynamoDB endpoint (DynamoDB Local).
func localEngine(b *testing.B, endpoint string) engine {
	ctx := context.Background()
	var n atomic.Int64
	plain, err := defaultconfig.NewClient(ctx, endpoint)
	if err != nil {
		b.Fatal(err)
	}
	counted, err := defaultconfig.NewClient(ctx, endpoint, dynamo.CountRoundTrips(&n))
	if err != nil {
		b.Fatal(err)
	}
	table := "routecache-bench-" + time.Now().Format("150405.000000")
	if err := dynamo.CreateTable(ctx, plain, table); err != nil {
		b.Fatal(err)
	}
	return engine{store: dynamo.New(plain, table), counted: dynamo.New(counted, table), requests: &n}
}
