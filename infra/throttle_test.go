package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// stageLimits returns the stage's method settings as "PATH METHOD" →
// [rate, burst].
func stageLimits(t *testing.T, tmpl cfnTemplate) map[string][2]any {
	t.Helper()
	stages := tmpl.ofType("AWS::ApiGateway::Stage")
	if len(stages) != 1 {
		t.Fatalf("%d stages, want 1", len(stages))
	}
	limits := map[string][2]any{}
	settings, _ := tmpl.Resources[stages[0]].Properties["MethodSettings"].([]any)
	for _, s := range settings {
		m := asMap(s)
		limits[fmt.Sprint(m["ResourcePath"], " ", m["HttpMethod"])] = [2]any{m["ThrottlingRateLimit"], m["ThrottlingBurstLimit"]}
	}
	return limits
}

// reserved returns each Go function's reserved concurrency (nil: unreserved).
func reserved(t *testing.T, tmpl cfnTemplate) map[string]any {
	t.Helper()
	got := map[string]any{}
	for _, f := range goFunctions {
		_, fn := tmpl.function(t, f.name)
		got[f.name] = fn.Properties["ReservedConcurrentExecutions"]
	}
	return got
}

const (
	invocationsPath       = "/~1v1~1flows~1{flow}~1invocations POST"
	pinnedInvocationsPath = "/~1v1~1flows~1{flow}~1versions~1{version}~1invocations POST"
)

func TestThrottlingAndConcurrencyDefaultsFollowTheCapacityModel(t *testing.T) {
	limits := stageLimits(t, awsJSON)
	want := map[string][2]any{
		"/* *":                {float64(DefaultThrottleRate), float64(DefaultThrottleBurst)},
		invocationsPath:       {float64(DefaultInvokeThrottleRate), float64(DefaultInvokeThrottleBurst)},
		pinnedInvocationsPath: {float64(DefaultInvokeThrottleRate), float64(DefaultInvokeThrottleBurst)},
	}
	for k, w := range want {
		if limits[k] != w {
			t.Errorf("stage limit of %s = %v, want %v (all: %v)", k, limits[k], w, limits)
		}
	}
	if len(limits) != len(want) {
		t.Errorf("stage limits %v, want only %v", limits, want)
	}
	for name, n := range reserved(t, awsJSON) {
		if w, ok := DefaultReservedConcurrency[name]; ok && n != w || !ok && n != nil {
			t.Errorf("%s: reserved concurrency %v, want %v", name, n, DefaultReservedConcurrency[name])
		}
	}
	if DefaultInvokeThrottleRate > 300 {
		t.Errorf("invocations may start %d executions/s; Step Functions STANDARD refills StartExecution at 300/s", DefaultInvokeThrottleRate)
	}
	var total float64
	for _, n := range DefaultReservedConcurrency {
		total += n
	}
	if total > 1000-100 {
		t.Errorf("%v reserved; Lambda's default account concurrency is 1,000 with at least 100 unreserved", total)
	}
}

func TestThrottlingAndConcurrencyComeFromCDKContext(t *testing.T) {
	dist, err := fakeDist()
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dist)
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{
		"kitaru:dist": dist, "kitaru:stackName": "Tuned",
		"kitaru:apiThrottleRate": "4000", "kitaru:apiThrottleBurst": "5000",
		"kitaru:invokeThrottleRate": "250", "kitaru:invokeThrottleBurst": "1300",
		"kitaru:invokeConcurrency": "400", "kitaru:resolveConcurrency": "0",
	}})
	if err := defineApp(app); err != nil {
		t.Fatal(err)
	}
	tmpl, err := toCfn(assertions.Template_FromStack(app.Node().FindChild(jsii.String("Tuned")).(awscdk.Stack), nil))
	if err != nil {
		t.Fatal(err)
	}
	limits := stageLimits(t, tmpl)
	for k, w := range map[string][2]any{"/* *": {4000.0, 5000.0}, invocationsPath: {250.0, 1300.0}, pinnedInvocationsPath: {250.0, 1300.0}} {
		if limits[k] != w {
			t.Errorf("stage limit of %s = %v, want %v", k, limits[k], w)
		}
	}
	got := reserved(t, tmpl)
	if got["invoke"] != 400.0 || got["resolve"] != nil {
		t.Errorf("reserved concurrency invoke %v resolve %v, want 400 and unreserved", got["invoke"], got["resolve"])
	}
}

func TestABadThrottlingContextNamesTheKey(t *testing.T) {
	for _, kv := range [][2]string{{"kitaru:apiThrottleRate", "fast"}, {"kitaru:invokeThrottleBurst", "0"}, {"kitaru:invokeConcurrency", "-1"}} {
		t.Run(kv[0]+"="+kv[1]+" is refused", func(t *testing.T) {
			app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{kv[0]: kv[1]}})
			err := defineApp(app)
			if err == nil || !strings.Contains(err.Error(), kv[0]) {
				t.Errorf("defineApp = %v, want an error naming %s", err, kv[0])
			}
		})
	}
}

func TestTheGatewaysThrottleSaysWhenToRetry(t *testing.T) {
	for _, id := range awsJSON.ofType("AWS::ApiGateway::GatewayResponse") {
		p := awsJSON.Resources[id].Properties
		header := asMap(p["ResponseParameters"])["gatewayresponse.header.Retry-After"]
		switch throttled := p["ResponseType"] == "THROTTLED"; {
		case throttled && header != "'1'":
			t.Errorf("THROTTLED: Retry-After %v, want '1' (as the handlers' 429s)", header)
		case !throttled && header != nil:
			t.Errorf("%s: Retry-After %v, want none", p["ResponseType"], header)
		}
	}
}
