// Command infra is the CDK app of Kitaru deployments. `cdk synth` / `cdk
// deploy` (and cdklocal) run it through cdk.json: its "build" step compiles
// this package into .tmp/cdk/kitaru-infra and its "app" runs that binary from
// the repository root, the directory the CDK CLI runs in. Every file path the
// CLI hands the app (CDK_OUTDIR, CDK_ERROR_FILE, CDK_PERF_COUNTERS_FILE, the
// context overflow file) is relative to that directory, so the app must run
// there too: aws-cdk-lib reads them itself, and writes the perf-counters file
// only when a stack's synth takes >= 10 s, so an app run elsewhere fails only
// on slow machines. Settings come from CDK context (-c key=value):
//
//	kitaru:localstack=true   LocalStack's free plan (see localstack/README.md)
//	kitaru:destroy=true      dev stack: table, bucket, secret and logs go with it
//	kitaru:stackName=NAME    CloudFormation stack name (default Kitaru)
//	kitaru:stacks=SPEC       KITARU_STACKS (default aws)
//	kitaru:defaultStack=NAME KITARU_DEFAULT_STACK
//	kitaru:apiGatewayCloudWatchRole=true  let CDK set API Gateway's account log role
//	kitaru:dist=DIR          where `make build` wrote the Lambda code (default dist, from the repository root)
//	kitaru:apiThrottleRate=N, kitaru:apiThrottleBurst=N       the stage's limit, all routes (default 1000, 2000)
//	kitaru:invokeThrottleRate=N, kitaru:invokeThrottleBurst=N the invocation routes' limit (default 300, 300)
//	kitaru:invokeConcurrency=N, kitaru:resolveConcurrency=N   reserved concurrency (default 150, 100; 0 unreserved)
//
// The README's "On AWS" section and the Default* constants of stack.go give
// each default's reason.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	if err := checkWorkingDir(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		jsii.Close()
		os.Exit(1)
	}
	app := awscdk.NewApp(nil)
	if err := defineApp(app); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
}

// cliPathVars are the file paths the CDK CLI (aws-cdk 2.1148) hands the app,
// relative to its own working directory when its --output is relative.
var cliPathVars = []string{"CDK_OUTDIR", "CDK_ERROR_FILE", "CDK_PERF_COUNTERS_FILE", "CONTEXT_OVERFLOW_LOCATION_ENV"}

// checkWorkingDir fails at once, rather than only when a synth is slow, when
// the app was started outside the directory holding cdk.json while the CLI
// handed it relative paths.
func checkWorkingDir() error {
	for _, k := range cliPathVars {
		if p := os.Getenv(k); p != "" && !filepath.IsAbs(p) {
			if _, err := os.Stat("cdk.json"); err != nil {
				return fmt.Errorf("%s=%s is relative to the CDK CLI's directory, but the app runs elsewhere: run it through cdk.json from the repository root (make synth)", k, p)
			}
			return nil
		}
	}
	return nil
}

// defineApp adds the stack the context asks for to app.
func defineApp(app awscdk.App) error {
	ctx := func(key, def string) string {
		v := app.Node().TryGetContext(jsii.String(key))
		if v == nil {
			return def
		}
		return fmt.Sprint(v)
	}
	props := KitaruStackProps{
		StackProps:               awscdk.StackProps{Description: jsii.String("Kitaru deployments: registry API, executions and storage")},
		DistDir:                  ctx("kitaru:dist", "dist"),
		DestroyData:              ctx("kitaru:destroy", "false") == "true",
		Stacks:                   ctx("kitaru:stacks", ""),
		DefaultStack:             ctx("kitaru:defaultStack", ""),
		APIGatewayCloudWatchRole: ctx("kitaru:apiGatewayCloudWatchRole", "false") == "true",
	}
	if err := numberContext(ctx, &props); err != nil {
		return err
	}
	if ctx("kitaru:localstack", "false") == "true" {
		props = LocalStackProps(props)
	}
	_, err := NewKitaruStack(app, ctx("kitaru:stackName", "Kitaru"), props)
	return err
}

// numberContext reads the throttling and concurrency keys into props; an
// absent key keeps the default.
func numberContext(ctx func(key, def string) string, props *KitaruStackProps) error {
	props.ReservedConcurrency = map[string]float64{}
	for key, dst := range map[string]*float64{
		"kitaru:apiThrottleRate": &props.ThrottleRate, "kitaru:apiThrottleBurst": &props.ThrottleBurst,
		"kitaru:invokeThrottleRate": &props.InvokeThrottleRate, "kitaru:invokeThrottleBurst": &props.InvokeThrottleBurst,
	} {
		n, set, err := numberOf(ctx, key, 1)
		if err != nil {
			return err
		}
		if set {
			*dst = n
		}
	}
	for _, fn := range []string{"invoke", "resolve"} {
		n, set, err := numberOf(ctx, "kitaru:"+fn+"Concurrency", 0)
		if err != nil {
			return err
		}
		if set {
			props.ReservedConcurrency[fn] = n
		}
	}
	return nil
}

// numberOf reads a whole-number context key of at least least.
func numberOf(ctx func(key, def string) string, key string, least int) (n float64, set bool, err error) {
	v := ctx(key, "")
	if v == "" {
		return 0, false, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < least {
		return 0, false, fmt.Errorf("context %s=%s: use a whole number of at least %d", key, v, least)
	}
	return float64(i), true, nil
}
