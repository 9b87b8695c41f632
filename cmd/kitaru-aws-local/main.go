// Command kitaru-aws-local runs the synthesized stack (cdk.out) on AWS's
// emulators: the Lambda functions under aws-lambda-rie, Step Functions, S3
// and Secrets Manager in moto's server, the table in DynamoDB Local, API
// Gateway played from the template (pkg/awslocal). scripts/aws-local.sh
// builds, synthesizes and starts what it needs; run that instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/kitaru/deployments/pkg/awslocal"
)

func main() {
	var (
		cfg   awslocal.Config
		state string
	)
	flag.StringVar(&cfg.Assembly, "assembly", "cdk.out", "the cloud assembly `dir`ectory")
	flag.StringVar(&cfg.Stack, "stack", "Kitaru", "the stack to run")
	flag.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint for the table (DynamoDB Local), required")
	flag.StringVar(&cfg.RIE.Path, "rie", "aws-lambda-rie", "the aws-lambda-rie binary")
	flag.StringVar(&cfg.RIE.Python, "python", "python3", "the Python interpreter (moto 5.2.1 installed)")
	flag.StringVar(&cfg.RIE.PythonRuntime, "python-runtime", "scripts/awslocal/python_runtime.py", "the runtime API bootstrap for python functions")
	flag.StringVar(&cfg.MotoLauncher, "moto-launcher", "scripts/awslocal/motoserver.py", "the moto launcher")
	flag.StringVar(&cfg.RIE.LogDir, "log-dir", ".tmp/aws-local/logs", "where each function's and moto's log goes")
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "the API's listen address")
	flag.StringVar(&state, "state", ".tmp/aws-local/state.json", "where to write the running stack's URLs and names")
	flag.Parse()
	if err := run(cfg, state); err != nil {
		fmt.Fprintln(os.Stderr, "kitaru-aws-local:", err)
		os.Exit(1)
	}
}

func run(cfg awslocal.Config, state string) error {
	if cfg.DynamoDBEndpoint == "" {
		return fmt.Errorf("set -dynamodb-endpoint (scripts/aws-local.sh starts DynamoDB Local)")
	}
	for _, p := range []*string{&cfg.RIE.PythonRuntime, &cfg.MotoLauncher, &cfg.RIE.LogDir, &cfg.Assembly} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if err := os.MkdirAll(cfg.RIE.LogDir, 0o755); err != nil {
		return err
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := awslocal.Start(ctx, cfg)
	if err != nil {
		return err
	}
	if err := awslocal.WriteState(state, s.State()); err != nil {
		return errors.Join(err, s.Close())
	}
	// For asl-validator: the definition exactly as the state machine got it.
	definition := filepath.Join(filepath.Dir(state), "definition.asl.json")
	if err := os.WriteFile(definition, []byte(s.Deployed.Definition), 0o644); err != nil {
		return errors.Join(err, s.Close())
	}
	fmt.Printf("table %s, bucket %s, moto %s, logs in %s\n", s.Deployed.Table, s.Deployed.Bucket, s.Moto, cfg.RIE.LogDir)
	fmt.Printf("ready %s\n", s.URL)
	<-ctx.Done()
	return s.Close()
}
