// Package lambdaenv wires an API Lambda function from its environment: the
// DynamoDB store, the stacks, the bundle bucket, the state machine and a
// JSON logger around an httpapi.Handler. functions/<name>/main.go call Start
// with their route group.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	sfnexec "github.com/kitaru/deployments/pkg/sfn"
	"github.com/kitaru/deployments/pkg/version"
	"github.com/kitaru/deployments/pkg/workflow"
)

// Env is the configuration a function reads from its environment.
type Env struct {
	// Table is the DynamoDB table (KITARU_TABLE, required).
	Table string
	// Stacks is the stack catalogue (KITARU_STACKS, KITARU_DEFAULT_STACK).
	Stacks registry.Stacks
	// DynamoDBEndpoint overrides the DynamoDB endpoint (DYNAMODB_ENDPOINT), e.g. for LocalStack.
	DynamoDBEndpoint string
	// Bucket holds source bundles and large results (KITARU_BUCKET; deploy and invoke groups).
	Bucket string
	// S3Endpoint overrides the S3 endpoint (S3_ENDPOINT), e.g. for LocalStack.
	S3Endpoint string
	// StateMachineARN is the snapshot-execution workflow (KITARU_STATE_MACHINE_ARN; invoke group).
	StateMachineARN string
	// StepFunctionsEndpoint overrides the Step Functions endpoint (STEPFUNCTIONS_ENDPOINT).
	StepFunctionsEndpoint string
	// SigningSecretARN names the Secrets Manager secret that signs tokens
	// (KITARU_SIGNING_SECRET_ARN; authorizer and auth group).
	SigningSecretARN string
	// SecretsManagerEndpoint overrides the Secrets Manager endpoint (SECRETSMANAGER_ENDPOINT).
	SecretsManagerEndpoint string
	// MaxBundleBytes bounds a source bundle (KITARU_MAX_BUNDLE_MB; default 64 MiB).
	MaxBundleBytes int64
	// VerifyBearer makes the handlers authenticate requests that arrive
	// without authorizer context themselves (KITARU_VERIFY_BEARER=true), for
	// gateways that do not run Lambda authorizers.
	VerifyBearer bool
}

// Read reads Env through getenv (os.Getenv in a function).
func Read(getenv func(string) string) (Env, error) {
	env, err := ReadStore(getenv)
	if err != nil {
		return Env{}, err
	}
	stacks, err := registry.ParseStacks(getenv("KITARU_STACKS"), getenv("KITARU_DEFAULT_STACK"))
	if err != nil {
		return Env{}, fmt.Errorf("read KITARU_STACKS: %w", err)
	}
	env.Stacks = stacks
	env.Bucket, env.S3Endpoint = getenv("KITARU_BUCKET"), getenv("S3_ENDPOINT")
	env.StateMachineARN, env.StepFunctionsEndpoint = getenv("KITARU_STATE_MACHINE_ARN"), getenv("STEPFUNCTIONS_ENDPOINT")
	if v := getenv("KITARU_MAX_BUNDLE_MB"); v != "" {
		mb, err := strconv.Atoi(v)
		if err != nil || mb < 1 || mb > 5120 {
			return Env{}, fmt.Errorf("KITARU_MAX_BUNDLE_MB is %q; set a whole number of MiB from 1 to 5120", v)
		}
		env.MaxBundleBytes = int64(mb) << 20
	}
	switch v := getenv("KITARU_VERIFY_BEARER"); v {
	case "", "false":
	case "true":
		env.VerifyBearer = true
	default:
		return Env{}, fmt.Errorf("KITARU_VERIFY_BEARER is %q; set true or false", v)
	}
	return env, nil
}

// ReadStore reads only the store's settings (KITARU_TABLE, DYNAMODB_ENDPOINT),
// for functions that serve no API routes, such as finish.
func ReadStore(getenv func(string) string) (Env, error) {
	env := Env{
		Table: getenv("KITARU_TABLE"), DynamoDBEndpoint: getenv("DYNAMODB_ENDPOINT"),
		SigningSecretARN: getenv("KITARU_SIGNING_SECRET_ARN"), SecretsManagerEndpoint: getenv("SECRETSMANAGER_ENDPOINT"),
	}
	if env.Table == "" {
		return Env{}, fmt.Errorf("KITARU_TABLE is not set; set it to the registry's DynamoDB table name")
	}
	return env, nil
}

// NewStore builds the DynamoDB store env names.
func NewStore(ctx context.Context, env Env) (*dynamo.Store, error) {
	db, err := dynamo.NewClient(ctx, env.DynamoDBEndpoint)
	if err != nil {
		return nil, fmt.Errorf("build DynamoDB client: %w", err)
	}
	return dynamo.New(db, env.Table), nil
}

// NewHandler builds the handler serving group on the store, bucket and state
// machine env names. Groups that store bundles need KITARU_BUCKET; the invoke
// group also needs KITARU_STATE_MACHINE_ARN.
func NewHandler(ctx context.Context, env Env, group httpapi.Group, logger *slog.Logger) (*httpapi.Handler, error) {
	store, err := NewStore(ctx, env)
	if err != nil {
		return nil, err
	}
	cfg := httpapi.Config{Stacks: env.Stacks, Groups: []httpapi.Group{group}, Logger: logger, Executions: store, ServerVersion: version.Version}
	var signer *auth.Signer
	if group == httpapi.GroupAuth || env.VerifyBearer {
		if signer, err = NewSigner(ctx, env); err != nil {
			return nil, err
		}
	}
	if group == httpapi.GroupAuth {
		cfg.Tokens = signer
	}
	if env.VerifyBearer {
		cfg.Authenticate = (&auth.Authenticator{Keys: store, Tokens: signer}).Authenticate
	}
	if group == httpapi.GroupDeploy || group == httpapi.GroupInvoke {
		if cfg.Artifacts, err = newArtifacts(ctx, env); err != nil {
			return nil, err
		}
	}
	if group == httpapi.GroupInvoke {
		executor, err := newExecutor(ctx, env)
		if err != nil {
			return nil, err
		}
		cfg.Invoker = &invoke.Service{
			Registry: store, Execs: store, Executor: executor, Objects: cfg.Artifacts.(*artifacts.Store),
			Stacks: env.Stacks, TimeoutSeconds: workflow.Default().Run.TimeoutSeconds,
		}
	}
	return httpapi.New(store, cfg), nil
}

// NewSigner reads the token signing secret from Secrets Manager.
func NewSigner(ctx context.Context, env Env) (*auth.Signer, error) {
	if env.SigningSecretARN == "" {
		return nil, fmt.Errorf("KITARU_SIGNING_SECRET_ARN is not set; set it to the Secrets Manager secret that signs tokens")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if env.SecretsManagerEndpoint != "" {
			o.BaseEndpoint = aws.String(env.SecretsManagerEndpoint)
		}
	})
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(env.SigningSecretARN)})
	if err != nil {
		return nil, fmt.Errorf("read the token signing secret: %w", err)
	}
	secret := out.SecretBinary
	if out.SecretString != nil {
		secret = []byte(*out.SecretString)
	}
	if len(secret) < 32 {
		return nil, fmt.Errorf("the token signing secret %s is shorter than 32 bytes", env.SigningSecretARN)
	}
	return &auth.Signer{Secret: secret}, nil
}

// StartAuthorizer serves the API Gateway REQUEST authorizer (functions/authorizer).
func StartAuthorizer() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", "authorizer")
	a, err := authorizerFromEnv(logger)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(a.Handle)
}

func authorizerFromEnv(logger *slog.Logger) (*gatewayauth.Authorizer, error) {
	ctx := context.Background()
	env, err := ReadStore(os.Getenv)
	if err != nil {
		return nil, err
	}
	store, err := NewStore(ctx, env)
	if err != nil {
		return nil, err
	}
	signer, err := NewSigner(ctx, env)
	if err != nil {
		return nil, err
	}
	return &gatewayauth.Authorizer{Auth: &auth.Authenticator{Keys: store, Tokens: signer}, Logger: logger}, nil
}

func newArtifacts(ctx context.Context, env Env) (*artifacts.Store, error) {
	if env.Bucket == "" {
		return nil, fmt.Errorf("KITARU_BUCKET is not set; set it to the bucket for source bundles")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if env.S3Endpoint != "" {
			o.BaseEndpoint, o.UsePathStyle = aws.String(env.S3Endpoint), true
		}
	})
	return &artifacts.Store{Blobs: &blob.S3{Client: client, Bucket: env.Bucket}, Limits: bundle.LimitsFor(env.MaxBundleBytes)}, nil
}

func newExecutor(ctx context.Context, env Env) (*sfnexec.Executor, error) {
	if env.StateMachineARN == "" {
		return nil, fmt.Errorf("KITARU_STATE_MACHINE_ARN is not set; set it to the snapshot-execution state machine")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	client := sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		if env.StepFunctionsEndpoint != "" {
			o.BaseEndpoint = aws.String(env.StepFunctionsEndpoint)
		}
	})
	return &sfnexec.Executor{Client: client, StateMachineARN: env.StateMachineARN}, nil
}

// Start builds the handler for group once, at cold start, and serves Lambda
// invocations with it. A configuration error ends the process.
func Start(group httpapi.Group) {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", string(group))
	h, err := handlerFromEnv(group, logger)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func handlerFromEnv(group httpapi.Group, logger *slog.Logger) (*httpapi.Handler, error) {
	env, err := Read(os.Getenv)
	if err != nil {
		return nil, err
	}
	return NewHandler(context.Background(), env, group, logger)
}
