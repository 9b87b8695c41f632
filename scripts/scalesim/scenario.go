package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/truora/minidyn/server"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/routecache"
	"github.com/kitaru/deployments/pkg/service"
	sfnexec "github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/throttle"
)

// scenario is one workload: invokes by tag on hot and cold flows, with
// deploys and tag moves mixed in, offered for a number of virtual seconds.
type scenario struct {
	name, about string
	// hot flows share hotRate invokes per second (tag stable, which moves
	// run against); cold flows share coldRate (tag default).
	hotFlows, coldFlows int
	hotRate, coldRate   float64
	// deploys per second (new versions of cold flows) and tag moves per
	// second (stable between v1 and v2 of hot flows).
	deployRate, moveRate float64
	// target is the invoke rate issue 20 asks for: offered at or below
	// it, no caller may see an error; above it, refusals must be clean
	// 429s with Retry-After.
	target float64
}

func (s scenario) offered() float64 { return s.hotRate + s.coldRate }

// scenarios are issue 20's targets and a rate above them.
func scenarios() []scenario {
	return []scenario{
		{name: "one-hot-flow", about: "one flow invoked by tag at 3,000/s", hotFlows: 1, coldFlows: 20,
			hotRate: 3000, deployRate: 2, moveRate: 1, target: 3000},
		{name: "across-flows", about: "10,000 invokes/s: 4 hot flows at 1,000/s each, 6,000/s over 200 cold flows", hotFlows: 4, coldFlows: 200,
			hotRate: 4000, coldRate: 6000, deployRate: 2, moveRate: 2, target: 10000},
		{name: "above-ceiling", about: "15,000 invokes/s: one flow at 6,000/s, 9,000/s over 200 cold flows", hotFlows: 1, coldFlows: 200,
			hotRate: 6000, coldRate: 9000, deployRate: 2, moveRate: 1, target: 10000},
	}
}

// environment is what every run of a scenario is built from.
type environment struct {
	limits  throttle.Limits
	quota   throttle.Quota
	archive string
	logger  *slog.Logger
	// instances is how many invoke-function instances serve the invokes,
	// each with its own route cache of bound (as on AWS: pkg/lambdaenv
	// wires one per Lambda instance); bound 0 runs without the cache.
	instances int
	bound     time.Duration
}

// stack is one run's system: the real handlers over the real store on an
// in-process minidyn and the real Step Functions executor on a fake
// endpoint, both behind the throttling decorators.
type stack struct {
	// handler serves deploys and tag moves (the deploy and tag functions);
	// invokers serve invokes, one per invoke-function instance, each
	// with its own route cache (the same handler when there is none).
	handler  apiHandler
	invokers []apiHandler
	// clock is the virtual time of the latest request handed out: the
	// route caches' clock.
	clock  virtualClock
	table  *throttle.Table
	engine *forgetfulEngine
	starts *throttle.StartExecutions
	fake   *throttle.FakeStepFunctions
	blobs  *fakeBlobs
}

const (
	tableName = "kitaru-scale-sim"
	// nowhere is the endpoint the clients are given: their transports
	// answer in process, so nothing is dialled.
	nowhere = "http://127.0.0.1:1"
)

// apiHandler is a Lambda handler of API Gateway events.
type apiHandler interface {
	Handle(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error)
}

// virtualClock is the latest virtual time handed to a request, as a wall
// clock for the route caches (requests go out in virtual-time order).
type virtualClock struct{ at atomic.Int64 }

func (c *virtualClock) set(t time.Duration) { c.at.Store(int64(t)) }

// now is time.Time at the virtual time on an arbitrary epoch; it carries
// no monotonic reading, so the caches compare wall times only.
func (c *virtualClock) now() time.Time {
	return time.Unix(1_800_000_000, 0).Add(time.Duration(c.at.Load()))
}

func build(ctx context.Context, env environment) (*stack, error) {
	st := &stack{table: throttle.NewTable(env.limits), starts: throttle.NewStartExecutions(env.quota),
		fake: &throttle.FakeStepFunctions{}, blobs: &fakeBlobs{}}
	st.engine = &forgetfulEngine{next: throttle.HandlerClient{Handler: server.NewServer()}}
	db, err := dynamo.NewClientFromConfig(aws.Config{}, nowhere,
		func(o *dynamodb.Options) { o.HTTPClient = st.engine }, st.table.Option())
	if err != nil {
		return nil, err
	}
	if err := dynamo.CreateTable(ctx, db, tableName); err != nil {
		return nil, err
	}
	sfnClient := sfn.New(sfn.Options{Region: dynamo.LocalRegion, Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String(nowhere)},
		func(o *sfn.Options) { o.HTTPClient = throttle.HandlerClient{Handler: st.fake} }, st.starts.Option())
	store := dynamo.New(db, tableName)
	cfg := service.Config{
		Store:  store,
		Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}}, Default: "aws"},
		// The groups of the deploy, tag and invoke functions, as on AWS.
		Groups: []httpapi.Group{httpapi.GroupDeploy, httpapi.GroupTag, httpapi.GroupInvoke},
		Blobs:  st.blobs, Logger: env.logger, SecretsByReference: true,
		// The executor's own StartExecution retries wait in virtual time too.
		Executor: &sfnexec.Executor{Client: sfnClient, StateMachineARN: "arn:aws:states:us-east-1:123456789012:stateMachine:kitaru-scale-sim",
			WrapStartRetryer: st.starts.VirtualRetryer},
	}
	built, err := service.New(cfg)
	if err != nil {
		return nil, err
	}
	st.handler = built.Handler
	if env.bound <= 0 || env.instances < 1 {
		st.invokers = []apiHandler{built.Handler}
		return st, nil
	}
	for range env.instances {
		cfg.Routes = routecache.New(store, routecache.Config{Bound: env.bound, Now: st.clock.now})
		inst, err := service.New(cfg)
		if err != nil {
			return nil, err
		}
		st.invokers = append(st.invokers, inst.Handler)
	}
	return st, nil
}

// op is one request of the workload at its virtual time.
type op struct {
	seq    int // its place in the schedule: picks the invoke instance
	at     time.Duration
	kind   string // invoke, deploy, move
	method string
	path   string
	body   string
}

func hotFlow(i int) string  { return fmt.Sprintf("hot_%d", i) }
func coldFlow(i int) string { return fmt.Sprintf("cold_%d", i) }

// schedule spreads each kind of request evenly from -warmup to the end of
// the window.
func (s scenario) schedule(warmup, window time.Duration) []op {
	var ops []op
	every := func(rate float64, make func(i int, at time.Duration) op) {
		if rate <= 0 {
			return
		}
		n := int(rate * (warmup + window).Seconds())
		for i := range n {
			ops = append(ops, make(i, time.Duration(float64(i)/rate*float64(time.Second))-warmup))
		}
	}
	every(s.hotRate, func(i int, at time.Duration) op {
		return op{at: at, kind: "invoke", method: http.MethodPost, path: "/v1/flows/" + hotFlow(i%s.hotFlows) + "/invocations", body: `{"tag":"stable","inputs":{"n":1}}`}
	})
	every(s.coldRate, func(i int, at time.Duration) op {
		return op{at: at, kind: "invoke", method: http.MethodPost, path: "/v1/flows/" + coldFlow(i%s.coldFlows) + "/invocations", body: `{"inputs":{"n":1}}`}
	})
	every(s.moveRate, func(i int, at time.Duration) op {
		return op{at: at, kind: "move", method: http.MethodPut, path: "/v1/flows/" + hotFlow(i%s.hotFlows) + "/tags/stable",
			body: mustJSON(map[string]any{"version": 1 + (i/s.hotFlows)%2, "exclusive": true})}
	})
	every(s.deployRate, func(i int, at time.Duration) op {
		return op{at: at, kind: "deploy", method: http.MethodPost, path: "/v1/flows/" + coldFlow(i%s.coldFlows) + "/deployments"}
	})
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].at < ops[j].at })
	return ops
}

// deployBody deploys the research flow from archive (inline) with tag,
// exclusive (a route the tag moves then move).
func deployBody(archive, tag string) string {
	return mustJSON(map[string]any{"entrypoint": "flows/research.py:research_agent", "inputs": map[string]any{"topic": "scale"},
		"source": map[string]any{"archive": archive}, "tag": tag, "exclusive": true})
}

// event is the API Gateway event of one request by the project's producer.
func event(method, path, body string) events.APIGatewayProxyRequest {
	return events.APIGatewayProxyRequest{
		HTTPMethod: method, Path: path, Body: body,
		Headers: map[string]string{"Content-Type": "application/json"},
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "scale-sim", Stage: "sim", HTTPMethod: method, Path: path,
			Authorizer: map[string]any{"project": "sim", "role": string(registry.RoleProducer), "principal_id": "scale-sim", "credential": "api_key"}},
	}
}

// outcome tallies what callers got, by kind of request and status.
type outcome struct {
	mu         sync.Mutex
	byStatus   map[string]map[int]int
	noRetry429 int // 429s without Retry-After
	// startRefused counts invokes refused because Step Functions throttled
	// their start: the invoke path removed what it had recorded.
	startRefused int
	// samples keeps the first error body of each kind and status.
	samples map[string]string
}

func (o *outcome) add(kind string, resp events.APIGatewayProxyResponse) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byStatus[kind] == nil {
		o.byStatus[kind] = map[int]int{}
	}
	o.byStatus[kind][resp.StatusCode]++
	if sample := fmt.Sprintf("%s %d", kind, resp.StatusCode); resp.StatusCode >= 400 && o.samples[sample] == "" {
		o.samples[sample] = resp.Body
	}
	if resp.StatusCode == http.StatusTooManyRequests && !hasRetryAfter(resp) {
		o.noRetry429++
	}
	if resp.StatusCode == http.StatusTooManyRequests && strings.Contains(resp.Body, `"cause":"start"`) {
		o.startRefused++
	}
}

// hasRetryAfter reports whether resp carries a Retry-After header, in
// either of the event's header maps, in any case.
func hasRetryAfter(resp events.APIGatewayProxyResponse) bool {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, "Retry-After") && v != "" {
			return true
		}
	}
	for k, v := range resp.MultiValueHeaders {
		if strings.EqualFold(k, "Retry-After") && len(v) > 0 {
			return true
		}
	}
	return false
}

// warmup is the virtual time the load runs before the measured window:
// budgets start full (an idle partition's second of units, an idle
// account's StartExecution bucket), and a window that began with them
// would credit that one-off allowance to the sustained rate.
const warmup = time.Second

// simulate sets the flows up, then offers the scenario's load for warmup
// and window virtual seconds with workers requests in flight, in
// virtual-time order, and reports on the window.
func simulate(ctx context.Context, env environment, sc scenario, window time.Duration, workers int) (*report, error) {
	wallStart := time.Now()
	st, err := build(ctx, env)
	if err != nil {
		return nil, err
	}
	// Set up a second before the warm-up, so that the warm-up starts on
	// full budgets: v1 of every flow, v2 of hot flows tagged stable.
	setup := throttle.WithTime(ctx, -warmup-time.Second)
	deploy := func(flow, tag string) error {
		resp, err := st.handler.Handle(setup, event(http.MethodPost, "/v1/flows/"+flow+"/deployments", deployBody(env.archive, tag)))
		if err != nil || resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("set up %s: status %d %s %v", flow, resp.StatusCode, resp.Body, err)
		}
		return nil
	}
	for i := range sc.hotFlows {
		if err := deploy(hotFlow(i), "default"); err != nil {
			return nil, err
		}
		if err := deploy(hotFlow(i), "stable"); err != nil {
			return nil, err
		}
	}
	for i := range sc.coldFlows {
		if err := deploy(coldFlow(i), "default"); err != nil {
			return nil, err
		}
	}
	canary := deployBody(env.archive, "canary")
	var (
		tableBefore                  throttle.Stats
		startsBefore, throttleBefore int64
		objectsBefore                int64
		executionsBefore             int
		recordsBefore                int64
	)
	ops := sc.schedule(warmup, window)
	out := &outcome{byStatus: map[string]map[int]int{}, samples: map[string]string{}}
	queue := make(chan op)
	var wg sync.WaitGroup
	var harnessErr error
	var once sync.Once
	for range workers {
		wg.Go(func() {
			for o := range queue {
				body := o.body
				if o.kind == "deploy" {
					body = canary
				}
				h := st.handler
				if o.kind == "invoke" {
					h = st.invokers[o.seq%len(st.invokers)]
				}
				resp, err := h.Handle(throttle.WithTime(ctx, o.at), event(o.method, o.path, body))
				if err != nil {
					once.Do(func() { harnessErr = fmt.Errorf("%s %s: %w", o.method, o.path, err) })
					continue
				}
				if o.at >= 0 {
					out.add(o.kind, resp)
				}
			}
		})
	}
	measuring := false
	for i, o := range ops {
		o.seq = i
		st.clock.set(o.at)
		if !measuring && o.at >= 0 {
			// The window opens: what the warm-up consumed so far is not
			// counted (requests still in flight, at most workers, are).
			measuring = true
			tableBefore, objectsBefore, executionsBefore = st.table.Budgets.Stats(), st.blobs.Puts(), st.fake.Started()
			recordsBefore = st.engine.forgotten.Load()
			startsBefore, throttleBefore = st.starts.Counts()
		}
		queue <- o
	}
	close(queue)
	wg.Wait()
	if harnessErr != nil {
		return nil, harnessErr
	}
	startsAfter, startThrottles := st.starts.Counts()
	tableAfter := st.table.Budgets.Stats()
	rep := &report{scenario: sc, window: window, outcome: out, wall: time.Since(wallStart),
		totalAdmitted: startsAfter, totalStarted: st.fake.Started(),
		startsAdmitted: startsAfter - startsBefore, startThrottles: startThrottles - throttleBefore, executionsStarted: st.fake.Started() - executionsBefore,
		objects: st.blobs.Puts() - objectsBefore, records: st.engine.forgotten.Load() - recordsBefore, storeThrottles: subtract(tableAfter, tableBefore)}
	return rep, nil
}

func subtract(after, before throttle.Stats) throttle.Stats {
	d := throttle.Stats{Admitted: after.Admitted - before.Admitted, Throttled: map[string]int64{},
		ReadUnits: after.ReadUnits - before.ReadUnits, WriteUnits: after.WriteUnits - before.WriteUnits}
	for k, v := range after.Throttled {
		if n := v - before.Throttled[k]; n > 0 {
			d.Throttled[k] = n
		}
	}
	return d
}

// report is one run's result.
type report struct {
	scenario                       scenario
	quota                          string
	window, wall                   time.Duration
	outcome                        *outcome
	startsAdmitted, startThrottles int64
	// totalAdmitted and totalStarted count the whole run, set up and
	// warm-up included, once nothing is in flight: each admitted
	// StartExecution must have started exactly one execution.
	totalAdmitted     int64
	totalStarted      int
	executionsStarted int
	objects, records  int64
	storeThrottles    throttle.Stats
}

// tally counts the window's invokes: accepted (202), refused (429) and
// answered with any other status.
func (r *report) tally() (ok, refused, errs int) {
	for status, n := range r.outcome.byStatus["invoke"] {
		switch status {
		case http.StatusAccepted:
			ok += n
		case http.StatusTooManyRequests:
			refused += n
		default:
			errs += n
		}
	}
	return ok, refused, errs
}

func (r *report) print(w io.Writer) {
	sec := r.window.Seconds()
	ok, refused, errs := r.tally()
	fmt.Fprintf(w, "== %s (%s), StartExecution quota %s\n", r.scenario.name, r.scenario.about, r.quota)
	fmt.Fprintf(w, "   invokes: offered %.0f/s, achieved %.0f/s (202), 429 %.0f/s, other errors %.0f/s\n",
		r.scenario.offered(), float64(ok)/sec, float64(refused)/sec, float64(errs)/sec)
	for _, kind := range []string{"invoke", "deploy", "move"} {
		fmt.Fprintf(w, "   %-7s statuses: %s\n", kind, statuses(r.outcome.byStatus[kind]))
	}
	samples := make([]string, 0, len(r.outcome.samples))
	for k := range r.outcome.samples {
		samples = append(samples, k)
	}
	sort.Strings(samples)
	for _, k := range samples {
		fmt.Fprintf(w, "   first %s: %s\n", k, strings.TrimSpace(r.outcome.samples[k]))
	}
	fmt.Fprintf(w, "   DynamoDB: %.0f RCU/s, %.0f WCU/s consumed; throttles seen by the store: %s\n",
		r.storeThrottles.ReadUnits/sec, r.storeThrottles.WriteUnits/sec, r.storeThrottles)
	fmt.Fprintf(w, "   Step Functions: %d StartExecution admitted, %d throttled (SDK retries included)\n", r.startsAdmitted, r.startThrottles)
	fmt.Fprintf(w, "   executions: %d recorded, %d started, %d accepted (202), %d removed after a refused start; recorded but never started: %d\n",
		r.records, r.executionsStarted, ok, r.outcome.startRefused, max(0, r.records-int64(r.executionsStarted)-int64(r.outcome.startRefused)))
	fmt.Fprintf(w, "   S3 run objects written: %.0f/s\n", float64(r.objects)/sec)
	verdict, why := r.verdict(ok, refused, errs)
	fmt.Fprintf(w, "   target %.0f/s: %s (%s); wall time %s\n\n", r.scenario.target, verdict, why, r.wall.Round(time.Millisecond))
}

// verdict applies issue 20's targets: at or below the target rate every
// invoke succeeds; above it, every refusal is a 429 with Retry-After.
func (r *report) verdict(ok, refused, errs int) (string, string) {
	switch {
	case errs > 0:
		return "FAIL", fmt.Sprintf("%d invokes answered with an error other than 429", errs)
	case r.outcome.noRetry429 > 0:
		return "FAIL", fmt.Sprintf("%d 429s without Retry-After", r.outcome.noRetry429)
	case r.scenario.offered() <= r.scenario.target && refused > 0:
		return "FAIL", fmt.Sprintf("%d invokes refused below the target rate", refused)
	case r.scenario.offered() <= r.scenario.target:
		return "PASS", "every invoke accepted"
	}
	return "PASS", "refusals above the target are clean 429s with Retry-After"
}

func statuses(m map[int]int) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d×%d", m[k], k)
	}
	return strings.Join(parts, " ")
}
