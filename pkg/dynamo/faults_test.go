package dynamo_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/registry/storetest"
)

// newFaults is the fault mix of the suite: about a third of all writes meet a
// fault, and one in six is applied with its answer lost.
func newFaults(seed int64) *dynamotest.Faults {
	return &dynamotest.Faults{Throttle: 0.1, ServerError: 0.08, LostResponse: 0.15, Seed: uint64(seed)}
}

// faultyTransport is the suite's fault mix (newFaults) with patient retries.
func faultyTransport(seq int64) []func(*dynamodb.Options) {
	return []func(*dynamodb.Options){newFaults(seq).Option(), patientRetries}
}

// patientRetries lets the SDK retry a faulty request until it gets through,
// as it would against a briefly unhealthy DynamoDB: the store must cope with
// re-sent requests, not with giving up.
func patientRetries(o *dynamodb.Options) {
	o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = 20
		so.MaxBackoff = 5 * time.Millisecond
		so.RateLimiter = ratelimit.None
	})
}

// TestConformanceUnderFaults runs the registry cases of the conformance suite
// with throttling, server errors and timeouts after commit injected into a
// third of all writes. The round-trip budgets are left out: retries cost
// requests.
func TestConformanceUnderFaults(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) { storetest.RunUnderFaults(t, e.storeEngine(faultyTransport)) })
	}
}

// TestThrottledRequestsAreRateLimited: when the engine keeps throttling and
// the SDK gives up, reads and writes answer rate_limited (429 with
// Retry-After), not unavailable or internal, whichever throttle code
// DynamoDB used.
func TestThrottledRequestsAreRateLimited(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			for range 2 {
				if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "thr", Entrypoint: "f.py:thr", Stack: "dev"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, code := range []string{"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"} {
				t.Run(code+" on every request is rate_limited with a wait", func(t *testing.T) {
					faults := &dynamotest.Faults{Throttle: 1, AllOperations: true, ThrottleCode: code}
					db, err := newClient(e.endpoint, faults.Option(), func(o *dynamodb.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 2) })
					if err != nil {
						t.Fatal(err)
					}
					throttled := newStore(db, f.table)
					_, err = throttled.PutTag(ctx, registry.TagRequest{Project: project, Flow: "thr", Tag: "stable", Version: 1, Exclusive: true})
					storetest.WantCode(t, err, registry.CodeRateLimited, "retry")
					_, err = throttled.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "thr", Entrypoint: "f.py:thr", Stack: "dev"})
					storetest.WantCode(t, err, registry.CodeRateLimited, "retry")
					storetest.WantCode(t, throttled.DeleteDeployment(ctx, project, "thr", 1, "x"), registry.CodeRateLimited, "retry")
					_, err = throttled.Resolve(ctx, project, "thr", registry.Selector{Tag: "default"})
					storetest.WantCode(t, err, registry.CodeRateLimited, "retry")
					if wait, _ := registry.RetryAfter(err); wait != registry.DefaultRetryAfter {
						t.Errorf("retry after %v, want %v", wait, registry.DefaultRetryAfter)
					}
				})
			}
		})
	}
}
