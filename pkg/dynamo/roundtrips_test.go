package dynamo_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/registry/storetest"
)

// TestBudgetsCountOperationsNotAttempts: the round-trip budgets hold while
// the transport fails requests before they reach the engine (throttles and
// server errors on reads and writes alike) and the SDK retries them, and
// the attempt count shows exactly the retries. This is the CI flake where
// DynamoDB Local dropped a connection under load and a budget counted the
// SDK's retry as a request of the store.
func TestBudgetsCountOperationsNotAttempts(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			var (
				mu         sync.Mutex
				injected   []*dynamotest.Faults
				operations atomic.Int64
				attempts   atomic.Int64
			)
			transport := func(seq int64) []func(*dynamodb.Options) {
				faults := &dynamotest.Faults{Throttle: 0.1, ServerError: 0.1, AllOperations: true, Seed: uint64(seq)}
				mu.Lock()
				injected = append(injected, faults)
				mu.Unlock()
				return []func(*dynamodb.Options){faults.Option(), patientRetries,
					dynamo.CountRoundTrips(&operations), dynamo.CountAttempts(&attempts)}
			}
			storetest.RunBudgets(t, e.storeEngine(transport))
			var retried int64
			for _, f := range injected {
				retried += f.Throttled.Load() + f.Failed.Load()
			}
			if retried == 0 {
				t.Fatal("no fault was injected: the budgets were not checked against retries")
			}
			if got := attempts.Load() - operations.Load(); got != retried {
				t.Errorf("attempts exceed operations by %d, want the %d injected failures the SDK retried", got, retried)
			}
			t.Logf("%d operations, %d attempts, %d retried", operations.Load(), attempts.Load(), retried)
		})
	}
}

// TestRoundTripsCountEveryLogicalRequest: counting operations does not hide
// a request the store sends: each call of the API is one round trip, and
// with no faults attempts equal round trips.
func TestRoundTripsCountEveryLogicalRequest(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			var operations, attempts atomic.Int64
			db, err := newClient(e.endpoint, dynamo.CountRoundTrips(&operations), dynamo.CountAttempts(&attempts))
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, e, false, nil)
			store := newStore(db, f.table)
			if _, err := store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "count", Entrypoint: "f.py:count", Stack: "dev"}); err != nil {
				t.Fatal(err)
			}
			before := operations.Load()
			for range 3 {
				if _, err := store.Resolve(ctx, project, "count", registry.Selector{Version: 1}); err != nil {
					t.Fatal(err)
				}
			}
			if got := operations.Load() - before; got != 3 {
				t.Errorf("3 resolves by version took %d round trips, want 3", got)
			}
			if operations.Load() != attempts.Load() {
				t.Errorf("%d round trips but %d attempts with no fault injected", operations.Load(), attempts.Load())
			}
		})
	}
}
