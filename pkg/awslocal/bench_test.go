package awslocal_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/awslocal"
)

// BenchmarkLiveFunctions measures each Go function of the stack under RIE:
// a fresh RIE per function, so the first invoke is a cold start (process
// start, init with its AWS config load and secret read, the request); then
// b.N warm invokes. It reports the bootstrap's size, the first invoke and
// the warm p50. Run by make aws-local-e2e against the stack it started.
func BenchmarkLiveFunctions(b *testing.B) {
	st, key := liveStack(b)
	ids := make([]string, 0, len(st.Functions))
	for id := range st.Functions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		f := st.Functions[id]
		payload, ok := benchPayload(b, f, key)
		if !ok {
			continue
		}
		b.Run(id[:len(id)-8], func(b *testing.B) { // the logical id without CDK's hash
			info, err := os.Stat(filepath.Join(f.CodeDir, "bootstrap"))
			if err != nil {
				b.Fatal(err)
			}
			rie := st.RIE
			rie.LogDir = b.TempDir()
			fn := f.Function
			in, err := rie.Start(&fn, st.Endpoints)
			if err != nil {
				b.Fatal(err)
			}
			defer in.Close()
			invoke := func() time.Duration {
				start := time.Now()
				_, err := in.Invoke(context.Background(), payload)
				var fnErr *awslocal.FunctionError
				if err != nil && !errors.As(err, &fnErr) {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			first := invoke()
			warm := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				warm = append(warm, invoke())
			}
			b.StopTimer()
			slices.Sort(warm)
			b.ReportMetric(float64(info.Size())/(1<<20), "MiB-bootstrap")
			b.ReportMetric(float64(first.Microseconds())/1000, "ms-first-invoke")
			b.ReportMetric(float64(warm[len(warm)/2].Microseconds())/1000, "ms-warm-p50")
		})
	}
}

// benchPayload is a request each Go function answers without changing
// anything: the authorizer a REQUEST event with the key, API functions a
// GET of their group, finish a record of an execution that does not exist,
// the reaper its scheduled event.
func benchPayload(b *testing.B, f awslocal.FunctionState, key string) ([]byte, bool) {
	if f.Runtime != "provided.al2023" {
		return nil, false
	}
	header := map[string]string{"Authorization": "Bearer " + key, "X-Kitaru-Project": "e2e"}
	ctx := map[string]any{"project": "e2e", "role": "producer", "principal_id": "bench", "credential": "api_key"}
	get := func(path string) []byte {
		ev := events.APIGatewayProxyRequest{Resource: path, Path: path, HTTPMethod: "GET", Headers: header,
			RequestContext: events.APIGatewayProxyRequestContext{RequestID: "bench", Stage: "api", Authorizer: ctx}}
		p, _ := json.Marshal(ev)
		return p
	}
	var payload []byte
	switch name := f.LogicalID; {
	case strings.HasPrefix(name, "AuthorizerFunction"):
		payload, _ = json.Marshal(events.APIGatewayCustomAuthorizerRequestTypeRequest{
			Type: "REQUEST", MethodArn: "arn:aws:execute-api:us-east-1:123456789012:api/api/GET/v1/status", Headers: header,
		})
	case strings.HasPrefix(name, "TokenFunction"):
		payload = get("/v1/status")
	case strings.HasPrefix(name, "InvokeFunction"):
		payload = get("/v1/executions/ex_bench")
	case strings.HasPrefix(name, "FinishFunction"):
		payload = []byte(`{"project": "e2e", "exec_id": "ex_bench", "output": {"result": 1}}`)
	case strings.HasPrefix(name, "ReaperFunction"):
		payload = []byte(`{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}`) // one reap pass
	case strings.HasPrefix(name, "DeployFunction"):
		payload = get("/v1/stacks")
	case strings.HasPrefix(name, "TagFunction"):
		payload = get("/v1/flows/research_agent/tags/stable/history")
	default: // resolve
		payload = get("/v1/flows/research_agent/resolve")
	}
	return payload, true
}
