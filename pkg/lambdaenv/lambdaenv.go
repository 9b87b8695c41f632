// Package lambdaenv wires an API Lambda function from its environment: it
// fills service.Config (the DynamoDB store, the stacks, the signing secret,
// the bundle limits) and serves the handler service.New builds, with a JSON
// logger. functions/<name>/main.go call Start with their route group
// and the Services it needs beyond these (packages s3env and sfnenv), so
// that a function links only the AWS clients its group uses. A cold start
// loads the AWS configuration once (storeenv.LoadAWSConfig) and builds
// every client from it; functions that need only the store start with
// package storeenv alone.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv/bundleenv"
	"github.com/kitaru/deployments/pkg/lambdaenv/storeenv"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/routecache"
	"github.com/kitaru/deployments/pkg/secrets/smsecrets"
	"github.com/kitaru/deployments/pkg/service"
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
	// SecretsPrefix starts the Secrets Manager names of flow secrets
	// (KITARU_SECRETS_PREFIX; default smsecrets.DefaultPrefix): the stack
	// scopes its functions' IAM policies to it.
	SecretsPrefix string
	// MaxBundleBytes bounds a source bundle (KITARU_MAX_BUNDLE_MB; default 64 MiB).
	MaxBundleBytes int64
	// VerifyBearer makes the handlers authenticate requests that arrive
	// without authorizer context themselves (KITARU_VERIFY_BEARER=true), for
	// gateways that do not run Lambda authorizers.
	VerifyBearer bool
	// RouteCacheBound is how long the resolve and invoke functions serve a
	// route they read (KITARU_ROUTE_CACHE_BOUND, a Go duration; default
	// routecache.DefaultBound; 0 reads every time). docs/route-cache.md.
	RouteCacheBound time.Duration
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
	env.SecretsPrefix = getenv("KITARU_SECRETS_PREFIX")
	if env.MaxBundleBytes, err = bundleenv.ReadMaxBytes(getenv); err != nil {
		return Env{}, err
	}
	if env.RouteCacheBound, err = readRouteCacheBound(getenv); err != nil {
		return Env{}, err
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

// maxRouteCacheBound keeps a mistyped bound (1h for 1s) from serving
// routes for longer than anyone would expect a tag move to take effect.
const maxRouteCacheBound = time.Minute

func readRouteCacheBound(getenv func(string) string) (time.Duration, error) {
	v := getenv("KITARU_ROUTE_CACHE_BOUND")
	if v == "" {
		return routecache.DefaultBound, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxRouteCacheBound {
		return 0, fmt.Errorf("KITARU_ROUTE_CACHE_BOUND is %q; set a duration from 0 (no cache) to %v, e.g. 1s or 250ms", v, maxRouteCacheBound)
	}
	return d, nil
}

// ReadStore reads only the store's and the signer's settings (KITARU_TABLE,
// DYNAMODB_ENDPOINT, KITARU_SIGNING_SECRET_ARN, SECRETSMANAGER_ENDPOINT),
// for the authorizer, which serves no API routes.
func ReadStore(getenv func(string) string) (Env, error) {
	t, err := storeenv.ReadTable(getenv)
	if err != nil {
		return Env{}, err
	}
	return Env{
		Table: t.Name, DynamoDBEndpoint: t.Endpoint,
		SigningSecretARN: getenv("KITARU_SIGNING_SECRET_ARN"), SecretsManagerEndpoint: getenv("SECRETSMANAGER_ENDPOINT"),
	}, nil
}

// table is the registry table env names.
func (env Env) table() storeenv.Table {
	return storeenv.Table{Name: env.Table, Endpoint: env.DynamoDBEndpoint}
}

// Services builds the adapters only some route groups use. A function passes
// those its group needs; the others stay nil and their AWS clients out of its
// binary.
type Services struct {
	// Blobs builds the store of source bundles and results (deploy and
	// invoke groups); s3env.NewBlobs is one.
	Blobs func(aws.Config, Env) (blob.Store, error)
	// Executor builds what starts and stops runs (invoke group);
	// sfnenv.NewExecutor is one.
	Executor func(aws.Config, Env) (workflow.Executor, error)
}

// NewStore loads the AWS configuration and builds the DynamoDB store env
// names.
func NewStore(ctx context.Context, env Env) (*dynamo.Store, error) {
	awsCfg, err := storeenv.LoadAWSConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	return storeenv.NewStore(awsCfg, env.table())
}

// NewHandler builds the handler serving group on the store env names, with
// every AWS client built from awsCfg. The deploy and invoke groups need
// services.Blobs and KITARU_BUCKET; the invoke group also needs
// services.Executor and KITARU_STATE_MACHINE_ARN.
func NewHandler(ctx context.Context, awsCfg aws.Config, env Env, group httpapi.Group, services Services, logger *slog.Logger) (*httpapi.Handler, error) {
	cfg, err := serviceConfig(ctx, awsCfg, env, group, services)
	if err != nil {
		return nil, err
	}
	cfg.Logger = logger
	built, err := service.New(cfg)
	if err != nil {
		return nil, err
	}
	return built.Handler, nil
}

// serviceConfig fills the service graph's Config for group from env, with
// only the clients group uses, all built from awsCfg.
func serviceConfig(ctx context.Context, awsCfg aws.Config, env Env, group httpapi.Group, services Services) (service.Config, error) {
	store, err := storeenv.NewStore(awsCfg, env.table())
	if err != nil {
		return service.Config{}, err
	}
	cfg := service.Config{
		Store: store, Stacks: env.Stacks, Groups: []httpapi.Group{group},
		BundleLimits: bundle.LimitsFor(env.MaxBundleBytes), VerifyBearer: env.VerifyBearer,
	}
	if (group == httpapi.GroupResolve || group == httpapi.GroupInvoke) && env.RouteCacheBound > 0 {
		// The functions on every invoke's path; the cache lives as long as
		// the Lambda instance (docs/route-cache.md).
		cfg.Routes = routecache.New(store, routecache.Config{Bound: env.RouteCacheBound})
	}
	if group == httpapi.GroupAuth || env.VerifyBearer {
		if cfg.Signer, err = NewSigner(ctx, awsCfg, env); err != nil {
			return service.Config{}, err
		}
	}
	if group == httpapi.GroupDeploy || group == httpapi.GroupInvoke {
		if services.Blobs == nil {
			return service.Config{}, fmt.Errorf("the %s group stores bundles but its function passes no Services.Blobs; pass s3env.NewBlobs in its main.go", group)
		}
		if cfg.Blobs, err = services.Blobs(awsCfg, env); err != nil {
			return service.Config{}, err
		}
	}
	if group == httpapi.GroupDeploy || group == httpapi.GroupInvoke {
		// Flow secrets: the deploy group serves /v1/secrets, the invoke
		// group resolves them and hands them to runs by reference.
		cfg.Secrets = smsecrets.New(secretsManager(awsCfg, env), env.SecretsPrefix)
		cfg.SecretsByReference = true
	}
	if group == httpapi.GroupInvoke {
		if services.Executor == nil {
			return service.Config{}, fmt.Errorf("the %s group starts runs but its function passes no Services.Executor; pass sfnenv.NewExecutor in its main.go", group)
		}
		if cfg.Executor, err = services.Executor(awsCfg, env); err != nil {
			return service.Config{}, err
		}
	}
	return cfg, nil
}

// secretsManager is a Secrets Manager client on env's endpoint.
func secretsManager(awsCfg aws.Config, env Env) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		if env.SecretsManagerEndpoint != "" {
			o.BaseEndpoint = aws.String(env.SecretsManagerEndpoint)
		}
	})
}

// NewSigner reads the token signing secret from Secrets Manager.
func NewSigner(ctx context.Context, awsCfg aws.Config, env Env) (*auth.Signer, error) {
	if env.SigningSecretARN == "" {
		return nil, fmt.Errorf("KITARU_SIGNING_SECRET_ARN is not set; set it to the Secrets Manager secret that signs tokens")
	}
	out, err := secretsManager(awsCfg, env).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(env.SigningSecretARN)})
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
	logger := storeenv.Logger("authorizer")
	a, err := authorizerFromEnv(context.Background(), os.Getenv, storeenv.LoadAWSConfig, logger)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(a.Handle)
}

func authorizerFromEnv(ctx context.Context, getenv func(string) string, load storeenv.ConfigLoader, logger *slog.Logger) (*gatewayauth.Authorizer, error) {
	env, err := ReadStore(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := load(getenv)
	if err != nil {
		return nil, err
	}
	store, err := storeenv.NewStore(awsCfg, env.table())
	if err != nil {
		return nil, err
	}
	signer, err := NewSigner(ctx, awsCfg, env)
	if err != nil {
		return nil, err
	}
	return service.NewAuthorizer(service.Config{Store: store, Signer: signer, Logger: logger})
}

// Start builds the handler for group once, at cold start, and serves Lambda
// invocations with it. services holds what group needs beyond the store and
// the signer (see NewHandler). A configuration error ends the process.
func Start(group httpapi.Group, services Services) {
	logger := storeenv.Logger(string(group))
	h, err := handlerFromEnv(context.Background(), os.Getenv, storeenv.LoadAWSConfig, group, services, logger)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func handlerFromEnv(ctx context.Context, getenv func(string) string, load storeenv.ConfigLoader, group httpapi.Group, services Services, logger *slog.Logger) (*httpapi.Handler, error) {
	env, err := Read(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return NewHandler(ctx, awsCfg, env, group, services, logger)
}
