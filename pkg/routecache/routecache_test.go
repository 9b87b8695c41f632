package routecache_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/routecache"
)

var _ routecache.Backend = (*dynamo.Store)(nil)

const project, flow = "p", "agent"

// clock is an injected clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// engine is one minidyn table and a store on it whose requests are counted.
type engine struct {
	store    *dynamo.Store // uncounted: what other processes write with
	counted  *dynamo.Store
	requests *atomic.Int64
}

func newEngine(t testing.TB) engine {
	t.Helper()
	tbl := dynamotest.New(t)
	var n atomic.Int64
	db, err := defaultconfig.NewClient(context.Background(), tbl.Endpoint, dynamo.CountRoundTrips(&n))
	if err != nil {
		t.Fatal(err)
	}
	return engine{store: tbl.Store, counted: dynamo.New(db, tbl.Name), requests: &n}
}

func deploy(t testing.TB, s registry.Store, n int) {
	t.Helper()
	for range n {
		if _, err := s.Deploy(context.Background(), registry.DeployRequest{
			Project: project, Flow: flow, Entrypoint: "flows/agent.py:agent",
			Inputs: json.RawMessage(`{"topic": "x"}`), Stack: "dev", By: "test",
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func putTag(t testing.TB, s registry.Store, tag string, version int, exclusive bool) registry.Tag {
	t.Helper()
	tg, err := s.PutTag(context.Background(), registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: version, Exclusive: exclusive, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func resolveVersion(t testing.TB, ctx context.Context, r interface {
	Resolve(context.Context, string, string, registry.Selector) (registry.Resolution, error)
}, sel registry.Selector) int {
	t.Helper()
	res, err := r.Resolve(ctx, project, flow, sel)
	if err != nil {
		t.Fatal(err)
	}
	return res.Deployment.Version
}

func TestAWarmResolveByTagReadsNothing(t *testing.T) {
	e := newEngine(t)
	deploy(t, e.store, 1)
	c := routecache.New(e.counted, routecache.Config{Bound: time.Hour})
	ctx := context.Background()
	resolveVersion(t, ctx, c, registry.Selector{})
	if got := e.requests.Load(); got != 2 {
		t.Fatalf("a cold resolve by tag sent %d requests, want 2 (head, version)", got)
	}
	for range 10 {
		resolveVersion(t, ctx, c, registry.Selector{})
	}
	if got := e.requests.Load(); got != 2 {
		t.Fatalf("ten warm resolves sent %d requests in all, want none beyond the first 2", got-2)
	}
}

func TestNoResolveServesARouteOlderThanTheBoundAfterAMove(t *testing.T) {
	const bound = time.Second
	e := newEngine(t)
	deploy(t, e.store, 2)
	putTag(t, e.store, registry.DefaultTag, 1, true)
	clk := &clock{t: time.Unix(1_000_000, 0)}
	c := routecache.New(e.store, routecache.Config{Bound: bound, Now: clk.Now})
	ctx := context.Background()
	if v := resolveVersion(t, ctx, c, registry.Selector{}); v != 1 {
		t.Fatalf("resolved v%d before the move, want v1", v)
	}
	clk.Advance(bound / 2)
	// Another process moves the tag; this cache is not told.
	putTag(t, e.store, registry.DefaultTag, 2, true)
	movedAt := clk.Now()
	for step := range 12 {
		v := resolveVersion(t, ctx, c, registry.Selector{})
		age := clk.Now().Sub(movedAt)
		if v != 2 && age >= bound {
			t.Fatalf("step %d: %v after the move the cache still served v1, older than the bound %v", step, age, bound)
		}
		clk.Advance(bound / 8)
	}
}

func TestTheMoverReadsItsOwnMoveAtOnceAcrossProcesses(t *testing.T) {
	e := newEngine(t)
	deploy(t, e.store, 2)
	putTag(t, e.store, registry.DefaultTag, 1, true)
	putTag(t, e.store, "beta", 1, false)
	putTag(t, e.store, "beta", 2, false)
	// Two Lambda functions: the tag function writes, the invoke function
	// resolves, each with its own cache and a bound far longer than the test.
	tagFn := routecache.New(e.store, routecache.Config{Bound: time.Hour})
	invokeFn := routecache.New(e.store, routecache.Config{Bound: time.Hour})
	ctx := context.Background()
	resolveVersion(t, ctx, invokeFn, registry.Selector{}) // warm
	ctx1 := context.Background()
	if _, err := invokeFn.Resolve(ctx1, project, flow, registry.Selector{Tag: "beta"}); registry.CodeOf(err) != registry.CodeConflict {
		t.Fatalf("a shared tag on two versions resolved with %v, want conflict", err)
	}

	tests := []struct {
		name   string
		change func() int64 // the revision the change's response carries
		sel    registry.Selector
		want   int
	}{
		{"a move of an exclusive tag is read by the mover at once", func() int64 {
			return putTag(t, tagFn, registry.DefaultTag, 2, true).Revision
		}, registry.Selector{}, 2},
		{"a shared tag left with one member is read by the mover at once", func() int64 {
			if err := tagFn.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "beta", Version: 1, By: "test"}); err != nil {
				t.Fatal(err)
			}
			tg, err := tagFn.GetTag(ctx, project, flow, "beta")
			if err != nil {
				t.Fatal(err)
			}
			return tg.Revision
		}, registry.Selector{Tag: "beta"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev := tt.change()
			if v := resolveVersion(t, routecache.WithMinRevision(ctx, rev), invokeFn, tt.sel); v != tt.want {
				t.Fatalf("the mover resolved v%d right after its change, want v%d", v, tt.want)
			}
		})
	}
	if v := resolveVersion(t, ctx, invokeFn, registry.Selector{}); v != 2 {
		t.Fatalf("after the mover's read-through the cache served v%d, want v2", v)
	}
}

func TestAMoveIsReadAtOnceOnlyThroughTheCacheThatMadeIt(t *testing.T) {
	tests := []struct {
		name  string
		mover func(e engine, c *routecache.Cache) registry.Store
		want  int // what the cache resolves right after the move, B = 1 h
	}{
		{"a move through another process is not seen within the bound without its revision",
			func(e engine, _ *routecache.Cache) registry.Store { return e.store }, 1},
		{"a move through the same cache is seen at once", func(_ engine, c *routecache.Cache) registry.Store { return c }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t)
			deploy(t, e.store, 2)
			putTag(t, e.store, registry.DefaultTag, 1, true)
			c := routecache.New(e.store, routecache.Config{Bound: time.Hour})
			ctx := context.Background()
			resolveVersion(t, ctx, c, registry.Selector{})
			putTag(t, tt.mover(e, c), registry.DefaultTag, 2, true)
			if v := resolveVersion(t, ctx, c, registry.Selector{}); v != tt.want {
				t.Fatalf("resolved v%d after the move, want v%d", v, tt.want)
			}
		})
	}
}

func TestACachedSplitPicksExactlyAsTheStore(t *testing.T) {
	e := newEngine(t)
	deploy(t, e.store, 3)
	ctx := context.Background()
	if _, err := e.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "canary", Split: registry.Split{1: 20, 2: 30, 3: 50}, Exclusive: true, By: "test"}); err != nil {
		t.Fatal(err)
	}
	c := routecache.New(e.store, routecache.Config{Bound: time.Hour})
	for i := range 200 {
		sel := registry.Selector{Tag: "canary", StickyKey: fmt.Sprintf("user-%d", i)}
		cached, err := c.Resolve(ctx, project, flow, sel)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := e.store.Resolve(ctx, project, flow, sel)
		if err != nil {
			t.Fatal(err)
		}
		if cached.Deployment.Version != stored.Deployment.Version {
			t.Fatalf("key %s: the cache picked v%d, the store v%d", sel.StickyKey, cached.Deployment.Version, stored.Deployment.Version)
		}
		if fmt.Sprint(cached.Deployment.Tags) != fmt.Sprint(stored.Deployment.Tags) || fmt.Sprint(cached.Route) != fmt.Sprint(stored.Route) {
			t.Fatalf("key %s: the cache answered tags %v route %v, the store %v %v", sel.StickyKey, cached.Deployment.Tags, cached.Route, stored.Deployment.Tags, stored.Route)
		}
	}
}

func TestConcurrentMissesReadTheHeadOnce(t *testing.T) {
	e := newEngine(t)
	deploy(t, e.store, 1)
	c := routecache.New(e.counted, routecache.Config{Bound: time.Hour})
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := c.Resolve(context.Background(), project, flow, registry.Selector{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := e.requests.Load(); got != 2 {
		t.Fatalf("32 concurrent cold resolves sent %d requests, want 2 (one head, one version)", got)
	}
}

func TestResolveByVersionNeverServesADeletedVersion(t *testing.T) {
	e := newEngine(t)
	deploy(t, e.store, 2)
	c := routecache.New(e.store, routecache.Config{Bound: time.Hour})
	ctx := context.Background()
	resolveVersion(t, ctx, c, registry.Selector{Version: 1})
	if err := e.store.DeleteDeployment(ctx, project, flow, 1, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Resolve(ctx, project, flow, registry.Selector{Version: 1}); registry.CodeOf(err) != registry.CodeNotFound {
		t.Fatalf("resolving a deleted version answered %v, want not_found", err)
	}
}

func TestABoundOfZeroReadsTheStoreEveryTime(t *testing.T) {
	e := newEngine(t)
	deploy(t, e.store, 1)
	c := routecache.New(e.counted, routecache.Config{})
	for range 3 {
		resolveVersion(t, context.Background(), c, registry.Selector{})
	}
	if got := e.requests.Load(); got != 6 {
		t.Fatalf("3 resolves with the cache disabled sent %d requests, want 6", got)
	}
}

func TestAnEntryOlderThanTheBoundIsReadAgainHeadOnly(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
	}{
		{"a resolve once the bound has passed reads only the head (the deployment is immutable and cached)", time.Second},
		// e.g. a thawed environment's wall clock corrected backwards: an
		// entry of unknown age is never fresh.
		{"a clock stepped back never makes an entry look fresh", -time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEngine(t)
			deploy(t, e.store, 1)
			clk := &clock{t: time.Unix(1_000_000, 0)}
			c := routecache.New(e.counted, routecache.Config{Bound: time.Second, Now: clk.Now})
			ctx := context.Background()
			resolveVersion(t, ctx, c, registry.Selector{})
			clk.Advance(tt.advance)
			before := e.requests.Load()
			resolveVersion(t, ctx, c, registry.Selector{})
			if got := e.requests.Load() - before; got != 1 {
				t.Fatalf("the resolve sent %d requests, want 1 (the head)", got)
			}
		})
	}
}

func TestCachedDeploymentsStayWithinTheByteBudget(t *testing.T) {
	e := newEngine(t)
	ctx := context.Background()
	big := json.RawMessage(fmt.Sprintf(`{"text": %q}`, strings.Repeat("x", 4000)))
	for range 3 {
		if _, err := e.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "flows/agent.py:agent", Inputs: big, Stack: "dev", By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	// Room for two of the three deployments.
	c := routecache.New(e.counted, routecache.Config{Bound: time.Hour, MaxVersionBytes: 10_000})
	for v := 1; v <= 3; v++ {
		putTag(t, c, "pinned", v, true)
		resolveVersion(t, ctx, c, registry.Selector{Tag: "pinned"})
	}
	putTag(t, c, "pinned", 1, true)
	before := e.requests.Load()
	resolveVersion(t, ctx, c, registry.Selector{Tag: "pinned"})
	if got := e.requests.Load() - before; got != 2 {
		t.Fatalf("resolving the least recently used deployment again sent %d requests, want 2 (head and the evicted version)", got)
	}
	putTag(t, c, "pinned", 3, true)
	before = e.requests.Load()
	resolveVersion(t, ctx, c, registry.Selector{Tag: "pinned"})
	if got := e.requests.Load() - before; got != 1 {
		t.Fatalf("resolving a recently used deployment sent %d requests, want 1 (the head; the deployment is cached)", got)
	}
}
