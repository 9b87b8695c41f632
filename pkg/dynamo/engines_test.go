package dynamo_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/localdynamo"
	"github.com/kitaru/deployments/pkg/registry/storetest"
)

const project = storetest.Project

var ctx = context.Background()

// engine is a DynamoDB endpoint the suites run on.
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

// TestConformance runs the store conformance suite (pkg/registry/storetest)
// on every engine, round-trip budgets included.
func TestConformance(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) { storetest.Run(t, e.storeEngine(nil)) })
	}
}

// fixture is one fresh table on one engine.
type fixture struct {
	store  *dynamo.Store
	db     *dynamodb.Client
	table  string
	trips  *atomic.Int64
	engine string
}

// newFixture makes a table on e; with faults, its client injects them
// (newFaults) and retries patiently.
func newFixture(t testing.TB, e engine, faults bool, now func() time.Time) *fixture {
	t.Helper()
	var transport func(seq int64) []func(*dynamodb.Options)
	if faults {
		transport = faultyTransport
	}
	return openFixture(t, e, transport, now)
}

// openFixture makes a table on e whose client counts its round trips and
// takes transport's options (nil for none), given the table's sequence
// number to seed them.
func openFixture(t testing.TB, e engine, transport func(seq int64) []func(*dynamodb.Options), now func() time.Time) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	trips := &atomic.Int64{}
	opts := []func(*dynamodb.Options){dynamo.CountRoundTrips(trips)}
	seq := tableSeq.Add(1)
	if transport != nil {
		opts = append(opts, transport(seq)...)
	}
	db, err := defaultconfig.NewClient(ctx, e.endpoint, opts...)
	if err != nil {
		t.Fatal(err)
	}
	table := fmt.Sprintf("kitaru-test-%d-%d", time.Now().UnixNano(), seq)
	if err := dynamo.CreateTable(ctx, db, table); err != nil {
		t.Fatalf("%s: %v", e.name, err)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table})
	})
	var storeOpts []dynamo.Option
	if now != nil {
		storeOpts = append(storeOpts, dynamo.WithClock(now))
	}
	return &fixture{store: dynamo.New(db, table, storeOpts...), db: db, table: table, trips: trips, engine: e.name}
}

// storeEngine is e as the conformance suite sees it: a fresh table per
// store, requests counted, the raw flow head as the flow's state; transport
// (nil for none) adds client options such as injected faults.
func (e engine) storeEngine(transport func(seq int64) []func(*dynamodb.Options)) storetest.Engine {
	var last *fixture // the suite uses one store at a time
	heads := map[*dynamo.Store]*fixture{}
	return storetest.Engine{
		Name: e.name,
		Open: func(t testing.TB, now func() time.Time) storetest.Store {
			f := openFixture(t, e, transport, now)
			last, heads[f.store] = f, f
			return f.store
		},
		RoundTrips: func() int64 { return last.trips.Load() },
		FlowState: func(t testing.TB, s storetest.Store, project, flow string) string {
			f := heads[s.(*dynamo.Store)]
			out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(true),
				Key: keyOf("P#"+project+"#F#"+flow, "FLOW")})
			if err != nil {
				t.Fatal(err)
			}
			return attrString(out.Item)
		},
		HeadSize: func(t testing.TB, s storetest.Store, project, flow string) int {
			f := heads[s.(*dynamo.Store)]
			out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(true),
				Key: keyOf("P#"+project+"#F#"+flow, "FLOW")})
			if err != nil {
				t.Fatal(err)
			}
			return itemSize(out.Item)
		},
		TagCycles: e.tagCycles(),
		LimitTags: func(s storetest.Store, n int) { s.(*dynamo.Store).LimitLiveTags(n) },
		Counters:  headCounters,
	}
}

// tagCycles is how many tag create/free cycles the TagCycles case runs on
// e: the suite's 5,000 on DynamoDB Local, 500 on minidyn, whose
// transactions slow down with the table's size (500 cycles take 7 s, 1,000
// take 37 s); the head's bound shows at either count.
func (e engine) tagCycles() int {
	if e.name == "minidyn" {
		return 500
	}
	return 0
}

// headCounters are the flow head's allocation counters (clock, tick token).
var headCounters = regexp.MustCompile(`\b(clock|tick):\S+ `)
