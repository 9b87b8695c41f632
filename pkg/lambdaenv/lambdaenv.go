// Package lambdaenv wires an API Lambda function from its environment: the
// DynamoDB store, the stacks, the signing secret and a JSON logger around an
// httpapi.Handler. functions/<name>/main.go call Start with their route group
// and the Services it needs beyond these (packages s3env and sfnenv), so
// that a function links only the AWS clients its group uses. A cold start
// loads the AWS configuration once and builds every client from it.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/lambdaenv/bundleenv"
	"github.com/kitaru/deployments/pkg/registry"
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
	if env.MaxBundleBytes, err = bundleenv.ReadMaxBytes(getenv); err != nil {
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

// Services builds the adapters only some route groups use. A function passes
// those its group needs; the others stay nil and their AWS clients out of its
// binary.
type Services struct {
	// Artifacts builds the store of source bundles and results (deploy and
	// invoke groups); s3env.NewArtifacts is one.
	Artifacts func(aws.Config, Env) (Artifacts, error)
	// Executor builds what starts and stops runs (invoke group);
	// sfnenv.NewExecutor is one.
	Executor func(aws.Config, Env) (workflow.Executor, error)
}

// Artifacts stores source bundles and hands the runner its URLs;
// *artifacts.Store is one.
type Artifacts interface {
	httpapi.Artifacts
	invoke.Objects
}

// loadAWSConfig is a function's AWS configuration: its region and the
// execution role's credentials, which Lambda puts in the environment. It
// reads nothing else (no shared config files, profiles, SSO or instance
// metadata): a cold start touches no file and the bootstrap links none of
// the SDK's credential chain (about 1.9 MB of each bootstrap). A cold start
// calls it once and builds every client from its result.
func loadAWSConfig(getenv func(string) string) (aws.Config, error) {
	region, id, secret := getenv("AWS_REGION"), getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if region == "" || id == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set; Lambda sets them from the function's role (for a local run, set them yourself)")
	}
	creds := credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))
	return aws.Config{Region: region, Credentials: aws.NewCredentialsCache(creds)}, nil
}

// NewStore loads the AWS configuration and builds the DynamoDB store env
// names: the whole cold start of a function that needs no other client, such
// as finish.
func NewStore(ctx context.Context, env Env) (*dynamo.Store, error) {
	awsCfg, err := loadAWSConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	return newStore(awsCfg, env)
}

func newStore(awsCfg aws.Config, env Env) (*dynamo.Store, error) {
	db, err := dynamo.NewClientFromConfig(awsCfg, env.DynamoDBEndpoint)
	if err != nil {
		return nil, fmt.Errorf("build DynamoDB client: %w", err)
	}
	return dynamo.New(db, env.Table), nil
}

// NewHandler builds the handler serving group on the store env names, with
// every AWS client built from awsCfg. The deploy and invoke groups need
// services.Artifacts and KITARU_BUCKET; the invoke group also needs
// services.Executor and KITARU_STATE_MACHINE_ARN.
func NewHandler(ctx context.Context, awsCfg aws.Config, env Env, group httpapi.Group, services Services, logger *slog.Logger) (*httpapi.Handler, error) {
	store, err := newStore(awsCfg, env)
	if err != nil {
		return nil, err
	}
	cfg := httpapi.Config{Stacks: env.Stacks, Groups: []httpapi.Group{group}, Logger: logger, Executions: store, Idempotency: store, ServerVersion: version.Version}
	var signer *auth.Signer
	if group == httpapi.GroupAuth || env.VerifyBearer {
		if signer, err = NewSigner(ctx, awsCfg, env); err != nil {
			return nil, err
		}
	}
	if group == httpapi.GroupAuth {
		cfg.Tokens = signer
	}
	if env.VerifyBearer {
		cfg.Authenticate = (&auth.Authenticator{Keys: store, Tokens: signer}).Authenticate
	}
	var arts Artifacts
	if group == httpapi.GroupDeploy || group == httpapi.GroupInvoke {
		if services.Artifacts == nil {
			return nil, fmt.Errorf("the %s group stores bundles but its function passes no Services.Artifacts; pass s3env.NewArtifacts in its main.go", group)
		}
		if arts, err = services.Artifacts(awsCfg, env); err != nil {
			return nil, err
		}
		cfg.Artifacts = arts
	}
	if group == httpapi.GroupInvoke {
		if services.Executor == nil {
			return nil, fmt.Errorf("the %s group starts runs but its function passes no Services.Executor; pass sfnenv.NewExecutor in its main.go", group)
		}
		executor, err := services.Executor(awsCfg, env)
		if err != nil {
			return nil, err
		}
		cfg.Invoker = &invoke.Service{
			Registry: store, Execs: store, Executor: executor, Objects: arts,
			Stacks: env.Stacks, TimeoutSeconds: workflow.Default().Run.TimeoutSeconds,
			BundleLimits: bundle.LimitsFor(env.MaxBundleBytes),
		}
	}
	return httpapi.New(store, cfg), nil
}

// NewSigner reads the token signing secret from Secrets Manager.
func NewSigner(ctx context.Context, awsCfg aws.Config, env Env) (*auth.Signer, error) {
	if env.SigningSecretARN == "" {
		return nil, fmt.Errorf("KITARU_SIGNING_SECRET_ARN is not set; set it to the Secrets Manager secret that signs tokens")
	}
	client := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
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
	awsCfg, err := loadAWSConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	store, err := newStore(awsCfg, env)
	if err != nil {
		return nil, err
	}
	signer, err := NewSigner(ctx, awsCfg, env)
	if err != nil {
		return nil, err
	}
	return &gatewayauth.Authorizer{Auth: &auth.Authenticator{Keys: store, Tokens: signer}, Logger: logger}, nil
}

// Start builds the handler for group once, at cold start, and serves Lambda
// invocations with it. services holds what group needs beyond the store and
// the signer (see NewHandler). A configuration error ends the process.
func Start(group httpapi.Group, services Services) {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", string(group))
	h, err := handlerFromEnv(group, services, logger)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

func handlerFromEnv(group httpapi.Group, services Services, logger *slog.Logger) (*httpapi.Handler, error) {
	ctx := context.Background()
	env, err := Read(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := loadAWSConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	return NewHandler(ctx, awsCfg, env, group, services, logger)
}

// StoreFunction is the cold start of a function that needs only the store
// (finish, reaper): its JSON logger and the store KITARU_TABLE names. A
// configuration error is logged and ends the process.
func StoreFunction(name string) (*dynamo.Store, *slog.Logger) {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", name)
	store, err := storeFromEnv()
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	return store, logger
}

func storeFromEnv() (*dynamo.Store, error) {
	env, err := ReadStore(os.Getenv)
	if err != nil {
		return nil, err
	}
	return NewStore(context.Background(), env)
}
