package invoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/localdynamo"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// fakeExecutor stands in for Step Functions, which nothing here can run: it
// counts starts.
type fakeExecutor struct{ starts atomic.Int64 }

func (f *fakeExecutor) Start(context.Context, workflow.RunRequest) error { f.starts.Add(1); return nil }
func (f *fakeExecutor) Stop(context.Context, string, string) error       { return nil }

// fakeObjects hands out fixed URLs; presigning makes no request.
type fakeObjects struct{}

func (fakeObjects) BundleURL(context.Context, string, string, time.Duration) (string, error) {
	return "http://127.0.0.1/bundle", nil
}
func (fakeObjects) ResultUpload(context.Context, string, string, time.Duration) (workflow.URLRef, error) {
	return workflow.URLRef{URL: "http://127.0.0.1/result", Ref: "results/x"}, nil
}

// BenchmarkInvoke measures the invoke path on a real DynamoDB engine:
// DynamoDB round trips per invocation by tag and by version, plus starts.
func BenchmarkInvoke(b *testing.B) {
	endpoints := map[string]string{}
	srv, err := localdynamo.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	endpoints["minidyn"] = srv.URL
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		endpoints["dynamodb-local"] = ep
	}
	for name, ep := range endpoints {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var trips, attempts atomic.Int64
			db, err := defaultconfig.NewClient(ctx, ep, dynamo.CountRoundTrips(&trips), dynamo.CountAttempts(&attempts))
			if err != nil {
				b.Fatal(err)
			}
			table := fmt.Sprintf("invoke-bench-%d", time.Now().UnixNano())
			if err := dynamo.CreateTable(ctx, db, table); err != nil {
				b.Fatal(err)
			}
			defer db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table})
			store := dynamo.New(db, table)
			for range 2 {
				if _, err := store.Deploy(ctx, registry.DeployRequest{
					Project: "bench", Flow: "research_agent", Entrypoint: "flows/research.py:research_agent",
					Source: &registry.Source{Digest: "sha256:" + fmt.Sprintf("%064d", 0)}, Inputs: json.RawMessage(`{"topic": "x"}`), Stack: "dev",
				}); err != nil {
					b.Fatal(err)
				}
			}
			exec := &fakeExecutor{}
			svc := &invoke.Service{Registry: store, Execs: store, Executor: exec, Objects: fakeObjects{},
				Stacks: registry.Stacks{All: []registry.Stack{{Name: "dev", RemoteExecutable: true}}, Default: "dev"}}
			for _, sel := range []registry.Selector{{Tag: "default"}, {Version: 1}} {
				b.Run(sel.String(), func(b *testing.B) {
					before, attemptsBefore, startsBefore := trips.Load(), attempts.Load(), exec.starts.Load()
					for b.Loop() {
						if _, _, err := svc.Invoke(ctx, invoke.Request{Project: "bench", Flow: "research_agent", Selector: sel, Inputs: json.RawMessage(`{"topic": "y"}`), By: "bench"}); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(trips.Load()-before)/float64(b.N), "dynamodb-roundtrips/op")
					b.ReportMetric(float64(attempts.Load()-attemptsBefore)/float64(b.N), "dynamodb-attempts/op")
					b.ReportMetric(float64(exec.starts.Load()-startsBefore)/float64(b.N), "starts/op")
				})
			}
		})
	}
}
