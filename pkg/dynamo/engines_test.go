package dynamo_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/localdynamo"
)

// engine is a DynamoDB endpoint the conformance suite runs on.
type engine struct {
	name     string
	endpoint string
}

var (
	minidynURL string
	tableSeq   atomic.Int64
)

func TestMain(m *testing.M) {
	srv, err := localdynamo.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	minidynURL = srv.URL
	code := m.Run()
	_ = srv.Close()
	os.Exit(code)
}

// engines lists the engines to run on: minidyn always, and AWS's DynamoDB
// Local when DYNAMODB_ENDPOINT is set. `make test` sets it and also
// KITARU_REQUIRE_DYNAMODB_LOCAL=1, which turns a missing endpoint into a failure.
func engines(t testing.TB) []engine {
	list := []engine{{name: "minidyn", endpoint: minidynURL}}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		list = append(list, engine{name: "dynamodb-local", endpoint: ep})
	} else if os.Getenv("KITARU_REQUIRE_DYNAMODB_LOCAL") != "" {
		t.Fatal("KITARU_REQUIRE_DYNAMODB_LOCAL is set but DYNAMODB_ENDPOINT is empty: start DynamoDB Local (scripts/dynamodb-local.sh start) or run `make test`")
	} else {
		t.Log("DYNAMODB_ENDPOINT is not set: skipping the DynamoDB Local engine (run `make test` to include it)")
	}
	return list
}

// fixture is one fresh table on one engine.
type fixture struct {
	store  *dynamo.Store
	db     *dynamodb.Client
	table  string
	trips  *atomic.Int64
	engine string
}

func newFixture(t testing.TB, e engine) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	trips := &atomic.Int64{}
	opts := []func(*dynamodb.Options){dynamo.CountRoundTrips(trips)}
	if faultsOn.Load() {
		opts = append(opts, newFaults(tableSeq.Load()).Option(), patientRetries)
	}
	db, err := defaultconfig.NewClient(ctx, e.endpoint, opts...)
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("kitaru-test-%d-%d", time.Now().UnixNano(), tableSeq.Add(1))
	if err := dynamo.CreateTable(ctx, db, table); err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table})
	})
	return &fixture{store: dynamo.New(db, table), db: db, table: table, trips: trips, engine: e.name}
}

// forEachEngine runs fn as a subtest on every engine with a fresh table.
func forEachEngine(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) { fn(t, newFixture(t, e)) })
	}
}
