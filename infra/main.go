// Command infra is the CDK app of Kitaru deployments: `cdk synth` / `cdk
// deploy` run it from the repository root through cdk.json ("cd infra && go
// run ."). Settings come from CDK context (-c key=value):
//
//	kitaru:localstack=true   LocalStack's free plan (see localstack/README.md)
//	kitaru:destroy=true      dev stack: table, bucket, secret and logs go with it
//	kitaru:stackName=NAME    CloudFormation stack name (default Kitaru)
//	kitaru:stacks=SPEC       KITARU_STACKS (default aws)
//	kitaru:defaultStack=NAME KITARU_DEFAULT_STACK
//	kitaru:apiGatewayCloudWatchRole=true  let CDK set API Gateway's account log role
//	kitaru:dist=DIR          where `make build` wrote the Lambda code (default ../dist)
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: outdir()})
	if err := defineApp(app); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		jsii.Close()
		os.Exit(1)
	}
	app.Synth(nil)
}

// outdir is where the cloud assembly goes. The CDK CLI passes CDK_OUTDIR
// relative to the directory holding cdk.json (the repository root), but
// runs the app in infra/ ("cd infra && go run ."), so a relative path is
// taken from the root.
func outdir() *string {
	dir := os.Getenv("CDK_OUTDIR")
	if dir == "" || filepath.IsAbs(dir) {
		return nil
	}
	if _, err := os.Stat("cdk.json"); err == nil {
		return jsii.String(dir)
	}
	if _, err := os.Stat(filepath.Join("..", "cdk.json")); err == nil {
		return jsii.String(filepath.Join("..", dir))
	}
	return jsii.String(dir)
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
		DistDir:                  ctx("kitaru:dist", "../dist"),
		DestroyData:              ctx("kitaru:destroy", "false") == "true",
		Stacks:                   ctx("kitaru:stacks", ""),
		DefaultStack:             ctx("kitaru:defaultStack", ""),
		APIGatewayCloudWatchRole: ctx("kitaru:apiGatewayCloudWatchRole", "false") == "true",
	}
	if ctx("kitaru:localstack", "false") == "true" {
		props = LocalStackProps(props)
	}
	_, err := NewKitaruStack(app, ctx("kitaru:stackName", "Kitaru"), props)
	return err
}
