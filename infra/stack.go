package main

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// KitaruStackProps configures NewKitaruStack. The zero value (plus DistDir)
// is the AWS production shape; LocalStackProps adjusts it for LocalStack.
type KitaruStackProps struct {
	awscdk.StackProps
	// DistDir holds what `make build` writes: <name>/bootstrap for every Go
	// function and runner/ for the Python runner.
	DistDir string
	// DestroyData removes the table, bucket, secret and log groups with the
	// stack (dev stacks). The default retains them. A non-empty bucket still
	// blocks deletion: there is no autoDeleteObjects custom resource.
	DestroyData bool
	// Stacks and DefaultStack are KITARU_STACKS and KITARU_DEFAULT_STACK
	// (default "aws": one remote-executable stack).
	Stacks, DefaultStack string
	// StageName is the API Gateway stage (default "api"); the API URL ends in /<stage>.
	StageName string
	// AuthorizerCacheTTLSeconds caches authorizer answers per (Authorization,
	// X-Kitaru-Project); nil means DefaultAuthorizerCacheTTLSeconds. 0
	// disables the cache. A revoked API key keeps passing the authorizer for
	// up to this long (README, Access), so keep it short.
	AuthorizerCacheTTLSeconds *float64
	// ThrottleRate and ThrottleBurst bound the stage's requests per second,
	// every route together (defaults DefaultThrottleRate and
	// DefaultThrottleBurst).
	ThrottleRate, ThrottleBurst float64
	// InvokeThrottleRate and InvokeThrottleBurst bound the two invocation
	// routes within the stage's limit (defaults DefaultInvokeThrottleRate
	// and DefaultInvokeThrottleBurst).
	InvokeThrottleRate, InvokeThrottleBurst float64
	// ReservedConcurrency reserves concurrent executions for the functions
	// it names (and caps them there); a function it does not name takes
	// DefaultReservedConcurrency's value, and 0 leaves it unreserved.
	ReservedConcurrency map[string]float64
	// LogRetention applies to every log group (default one month).
	LogRetention awslogs.RetentionDays
	// APIGatewayCloudWatchRole lets CDK set the account-wide role API Gateway
	// writes access logs with (AWS::ApiGateway::Account). Leave it false when
	// the account already has one: the setting is per account and region.
	APIGatewayCloudWatchRole bool
	// VerifyBearer sets KITARU_VERIFY_BEARER=true on the API functions, so
	// they authenticate requests themselves when no authorizer context
	// arrives (LocalStack's free plan may not run Lambda authorizers).
	VerifyBearer bool
	// ServiceEndpoint, when set, is DYNAMODB_ENDPOINT, S3_ENDPOINT,
	// STEPFUNCTIONS_ENDPOINT and SECRETSMANAGER_ENDPOINT of every function.
	ServiceEndpoint string
	// CustomAPIID, when set, tags the REST API with LocalStack's _custom_id_
	// so its id (and the URL) is stable across deploys.
	CustomAPIID string
	// RunnerRuntime is the Python runtime of the runner; nil means
	// RunnerPython. A runtime older than NewestPython carries a cdk-nag L1
	// suppression naming the reason (nag.go).
	RunnerRuntime awslambda.Runtime
}

// NewestPython is the newest Python runtime aws-cdk-lib v2.276.0 defines.
// aws-cdk-lib also defines runtimes Lambda does not run (dotnet9,
// java*.al2023), and CloudFormation's Lambda runtime list as cfn-lint 1.51.0
// has it stops at python3.14 (E3030 on python3.15), so the runner does not
// use it yet.
func NewestPython() awslambda.Runtime { return awslambda.Runtime_PYTHON_3_15() }

// RunnerPython is the runner's runtime on AWS: the newest Python runtime that
// both aws-cdk-lib and cfn-lint's Lambda schema know. functions/runner is
// stdlib-only; its tar extraction names the "data" filter explicitly, so
// 3.14's new default changes nothing.
func RunnerPython() awslambda.Runtime { return awslambda.Runtime_PYTHON_3_14() }

// LocalStackPython is the runner runtime on LocalStack: python3.12 is the
// newest Python runtime known to run there; newer ones are unverified.
func LocalStackPython() awslambda.Runtime { return awslambda.Runtime_PYTHON_3_12() }

// LocalStackEndpoint is the LocalStack address functions use from inside
// their containers; the same name resolves to 127.0.0.1 on the host, so the
// presigned S3 URLs invoke signs work both for the CLI and for the runner.
const LocalStackEndpoint = "http://localhost.localstack.cloud:4566"

// LocalStackProps returns p adjusted for LocalStack's free plan: data is
// destroyed with the stack, the authorizer cache is off, handlers verify
// bearers themselves, every SDK client talks to LocalStack, and the API id
// is fixed to "kitaru".
func LocalStackProps(p KitaruStackProps) KitaruStackProps {
	p.DestroyData = true
	p.AuthorizerCacheTTLSeconds = jsii.Number(0)
	p.VerifyBearer = true
	p.ServiceEndpoint = LocalStackEndpoint
	p.CustomAPIID = "kitaru"
	p.RunnerRuntime = LocalStackPython()
	return p
}

// goFunction is one Go Lambda under functions/<name>.
type goFunction struct {
	name      string
	memoryMB  float64
	timeout   float64 // seconds
	apiRoutes bool    // serves routes of httpapi (reads KITARU_STACKS, …)
	table     []string
	secret    bool
}

// DynamoDB actions, by what the store does: reads (GetItem, BatchGetItem,
// Query), transaction items (Put/Update/Delete/ConditionCheck) and the key
// touch (UpdateItem). There are no indexes and no Scan.
var (
	tableRead  = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	tableWrite = append(append([]string{}, tableRead...),
		"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem")
	tableAuth = []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}
	// tableDeploy: a flow delete also removes a flow's versions and history
	// in batches (BatchWriteItem of deletes; pkg/dynamo/flowdelete.go).
	tableDeploy = append(append([]string{}, tableWrite...), "dynamodb:BatchWriteItem")
	// tableReap: Query the running index, GetItem the record, and the finish
	// transaction's Update (record, listing copy) and Delete (index item);
	// DeleteItem also drops an index item whose record had already ended.
	tableReap = []string{"dynamodb:Query", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
)

// goFunctions lists every Go function, its size and its table access. The API
// Gateway integration timeout is 29 s, so API functions stop at 30 s; finish
// stays under the record step's 60 s.
var goFunctions = []goFunction{
	{name: "authorizer", memoryMB: 256, timeout: 10, table: tableAuth, secret: true},
	{name: "deploy", memoryMB: 1024, timeout: 30, apiRoutes: true, table: tableDeploy},
	{name: "tag", memoryMB: 256, timeout: 15, apiRoutes: true, table: tableWrite},
	{name: "resolve", memoryMB: 256, timeout: 15, apiRoutes: true, table: tableRead},
	{name: "invoke", memoryMB: 256, timeout: 30, apiRoutes: true, table: tableWrite},
	{name: "token", memoryMB: 256, timeout: 15, apiRoutes: true, table: tableAuth, secret: true},
	{name: "finish", memoryMB: 256, timeout: 30, table: tableWrite},
	{name: "reaper", memoryMB: 256, timeout: 60, table: tableReap},
}

// ReaperSchedule is how often functions/reaper runs; an execution is reaped
// at most this long after its deadline (pkg/reaper.Deadline).
const ReaperSchedule = 5 // minutes

// FunctionForGroup names the function under functions/ that serves a route group.
func FunctionForGroup(g httpapi.Group) string {
	if g == httpapi.GroupAuth {
		return "token"
	}
	return string(g)
}

// Throttling and concurrency defaults, from the capacity model (README, "On
// AWS", and docs/executions.md, "When Step Functions throttles"). Every
// number is a published AWS default quota or follows from one; each is a
// CDK context key (main.go), to be raised with the quota it derives from.
const (
	// DefaultThrottleRate (requests/s, all routes): a tenth of API
	// Gateway's account quota of 10,000 requests/s per region, which every
	// API of the account shares, and at ~20-100 ms per request some 20-100
	// concurrent functions: well inside Lambda's default account
	// concurrency of 1,000.
	DefaultThrottleRate = 1000
	// DefaultThrottleBurst: two seconds of the rate, under the account's
	// burst of 5,000.
	DefaultThrottleBurst = 2000
	// DefaultInvokeThrottleRate: Step Functions STANDARD refills
	// StartExecution at 300/s per account and region. Above it every invoke
	// would be throttled by Step Functions after the invoke function's
	// retries (up to 3 s of a Lambda each, then 429); the gateway answers
	// the 429 itself instead, before any function runs.
	DefaultInvokeThrottleRate = 300
	// DefaultInvokeThrottleBurst: one second of the refill. StartExecution's
	// bucket holds 1,300, but a burst that large would need ~1,300
	// concurrent invoke functions for a moment, over the reservation below.
	DefaultInvokeThrottleBurst = 300
)

// DefaultReservedConcurrency is the concurrency reserved for (and the cap
// of) the hot functions: concurrency = rate x duration. Invoke: 300
// starts/s x ~0.1 s = 30 in steady state; 150 leaves room for bursts,
// cold starts and starts retried while Step Functions throttles (each holds
// a function up to ~3 s). Resolve: 1,000 requests/s x ~20 ms = 20; 100
// covers cold starts. Together 250 of the account's default 1,000, so other
// functions of the account keep 750 (Lambda keeps at least 100 unreserved).
var DefaultReservedConcurrency = map[string]float64{"invoke": 150, "resolve": 100}

// DefaultAuthorizerCacheTTLSeconds bounds how long a revoked API key still
// passes the authorizer on AWS (the token route re-reads the key, so it
// mints nothing meanwhile).
const DefaultAuthorizerCacheTTLSeconds = 60

// Runner settings: the workflow's Run step allows 900 s, the Lambda maximum.
const (
	runnerMemoryMB = 1024
	runnerHandler  = "runner.handler"
)

// Bucket layout (pkg/bundle.KeyFor, pkg/artifacts.ResultKey,
// pkg/artifacts.LogKey). An execution's log expires with its result.
const (
	bundlesPrefix = "bundles/"
	resultsPrefix = "results/"
	logsPrefix    = "logs/"
	resultsDays   = 30
	// runSecretsPrefix holds each run's run object (artifacts.PutRunObject:
	// its secrets and log upload URLs). Its presigned GET works for minutes,
	// the execution's end deletes it, and the bucket anything left a day later.
	runSecretsPrefix = artifacts.RunObjectPrefix
	runSecretsDays   = 1
)

// NewKitaruStack defines the whole system: table, bucket, signing secret,
// the Go functions and the Python runner, the state machine and the REST API.
func NewKitaruStack(scope constructs.Construct, id string, props KitaruStackProps) (awscdk.Stack, error) {
	props = withDefaults(props)
	if err := checkDist(props.DistDir); err != nil {
		return nil, err
	}
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	removal := awscdk.RemovalPolicy_RETAIN
	if props.DestroyData {
		removal = awscdk.RemovalPolicy_DESTROY
	}
	logGroup := func(id string) awslogs.LogGroup {
		return awslogs.NewLogGroup(stack, jsii.String(id), &awslogs.LogGroupProps{
			Retention: props.LogRetention, RemovalPolicy: removal,
		})
	}

	table := awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String("PK"), Type: awsdynamodb.AttributeType_STRING},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String("SK"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String("expires_at"),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(!props.DestroyData),
		RemovalPolicy:      removal,
	})

	bucket := awss3.NewBucket(stack, jsii.String("Bucket"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		LifecycleRules: &[]*awss3.LifecycleRule{
			{Id: jsii.String("abort-incomplete-uploads"), AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1))},
			{Id: jsii.String("expire-results"), Prefix: jsii.String(resultsPrefix), Expiration: awscdk.Duration_Days(jsii.Number(resultsDays))},
			{Id: jsii.String("expire-logs"), Prefix: jsii.String(logsPrefix), Expiration: awscdk.Duration_Days(jsii.Number(resultsDays))},
			{Id: jsii.String("expire-run-secrets"), Prefix: jsii.String(runSecretsPrefix), Expiration: awscdk.Duration_Days(jsii.Number(runSecretsDays))},
		},
		RemovalPolicy: removal,
	})

	secret := awssecretsmanager.NewSecret(stack, jsii.String("SigningSecret"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Kitaru: HS256 key that signs and verifies API bearer tokens"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength: jsii.Number(64), ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: removal,
	})

	endpoints := map[string]*string{}
	if props.ServiceEndpoint != "" {
		for _, k := range []string{"DYNAMODB_ENDPOINT", "S3_ENDPOINT", "STEPFUNCTIONS_ENDPOINT", "SECRETSMANAGER_ENDPOINT"} {
			endpoints[k] = jsii.String(props.ServiceEndpoint)
		}
	}

	fns := map[string]awslambda.Function{}
	for _, f := range goFunctions {
		env := map[string]*string{"KITARU_TABLE": table.TableName()}
		for k, v := range endpoints {
			env[k] = v
		}
		if f.apiRoutes {
			env["KITARU_STACKS"] = jsii.String(props.Stacks)
			if props.DefaultStack != "" {
				env["KITARU_DEFAULT_STACK"] = jsii.String(props.DefaultStack)
			}
			if props.VerifyBearer {
				env["KITARU_VERIFY_BEARER"] = jsii.String("true")
			}
		}
		fn := awslambda.NewFunction(stack, jsii.String(pascal(f.name)+"Function"), &awslambda.FunctionProps{
			Description:  jsii.String("Kitaru " + f.name + " (functions/" + f.name + ")"),
			Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture: awslambda.Architecture_ARM_64(),
			Handler:      jsii.String("bootstrap"),
			Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.DistDir, f.name)), nil),
			MemorySize:   jsii.Number(f.memoryMB),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(f.timeout)),
			Environment:  &env,
			LogGroup:     logGroup(pascal(f.name) + "Logs"),
		})
		if n := props.ReservedConcurrency[f.name]; n > 0 {
			fn.Node().DefaultChild().(awslambda.CfnFunction).SetReservedConcurrentExecutions(jsii.Number(n))
		}
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(f.table...),
			Resources: &[]*string{table.TableArn()},
		}))
		if f.secret || (f.apiRoutes && props.VerifyBearer) {
			fn.AddEnvironment(jsii.String("KITARU_SIGNING_SECRET_ARN"), secret.SecretArn(), nil)
			secret.GrantRead(fn, nil)
		}
		if f.apiRoutes && props.VerifyBearer {
			// Verifying a key touches its last use, as the authorizer does.
			fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Actions: jsii.Strings(tableAuth...), Resources: &[]*string{table.TableArn()},
			}))
		}
		fns[f.name] = fn
	}

	// The runner needs no AWS permission: it GETs the bundle and PUTs a large
	// result through URLs the invoke function presigned.
	runner := awslambda.NewFunction(stack, jsii.String("RunnerFunction"), &awslambda.FunctionProps{
		Description:  jsii.String("Kitaru snapshot runner (functions/runner)"),
		Runtime:      props.RunnerRuntime,
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String(runnerHandler),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.DistDir, "runner")), nil),
		MemorySize:   jsii.Number(runnerMemoryMB),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(workflow.Default().Run.TimeoutSeconds)),
		LogGroup:     logGroup("RunnerLogs"),
	})

	// Deploy stores and verifies bundles, and prune deletes the ones nothing
	// uses (docs/prune.md); ListBucket makes a missing bundle a 404 rather
	// than a 403 on HeadObject.
	deploy := fns["deploy"]
	deploy.AddEnvironment(jsii.String("KITARU_BUCKET"), bucket.BucketName(), nil)
	deploy.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject", "s3:PutObject", "s3:DeleteObject"),
		Resources: &[]*string{bucket.ArnForObjects(jsii.String(bundlesPrefix + "*"))},
	}))
	deploy.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: &[]*string{bucket.BucketArn()},
	}))

	asl, err := workflow.Default().ASL(workflow.Resources{
		RunnerFunction: *runner.FunctionArn(), FinishFunction: *fns["finish"].FunctionArn(),
	})
	if err != nil {
		return nil, fmt.Errorf("render the workflow: %w", err)
	}
	smRole := awsiam.NewRole(stack, jsii.String("StateMachineRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
	})
	smRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{runner.FunctionArn(), fns["finish"].FunctionArn()},
	}))
	// Logs: every event (level ALL) without execution data. Execution data
	// is the flow's inputs and results, the users' own data: it stays in the
	// execution history (states:GetExecutionHistory, 90 days) and out of
	// CloudWatch Logs. CDK grants the role the log-delivery actions on "*"
	// (those APIs have no resource-level permissions), and the X-Ray
	// actions on "*" for tracing.
	sm := awsstepfunctions.NewStateMachine(stack, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
		Comment:          jsii.String("Kitaru snapshot executions (pkg/workflow)"),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(string(asl))),
		Role:             smRole,
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logGroup("StateMachineLogs"),
			Level:                awsstepfunctions.LogLevel_ALL,
			IncludeExecutionData: jsii.Bool(false),
		},
		TracingEnabled: jsii.Bool(true),
	})

	// Invoke starts, follows and stops executions of this state machine
	// only, presigns the runner's bundle GET, result PUT and log chunk PUTs,
	// and reads logs (GET /v1/executions/{exec_id}/logs). ListBucket makes a
	// chunk not written yet a 404 rather than a 403.
	invoke := fns["invoke"]
	invoke.AddEnvironment(jsii.String("KITARU_BUCKET"), bucket.BucketName(), nil)
	invoke.AddEnvironment(jsii.String("KITARU_STATE_MACHINE_ARN"), sm.StateMachineArn(), nil)
	sm.GrantStartExecution(invoke)
	sm.GrantExecution(invoke, jsii.String("states:DescribeExecution"), jsii.String("states:StopExecution"))
	invoke.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: &[]*string{bucket.ArnForObjects(jsii.String(bundlesPrefix + "*"))},
	}))
	invoke.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: &[]*string{bucket.ArnForObjects(jsii.String(resultsPrefix + "*"))},
	}))
	invoke.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject", "s3:PutObject"),
		Resources: &[]*string{bucket.ArnForObjects(jsii.String(logsPrefix + "*"))},
	}))
	invoke.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: &[]*string{bucket.BucketArn()},
	}))

	grantFlowSecrets(stack, deploy, invoke, bucket)

	// Whatever ends an execution deletes its run object: invoke (a cancel, a
	// failed start), finish (every run's end) and the reaper (a lost one).
	for _, fn := range []awslambda.Function{invoke, fns["finish"], fns["reaper"]} {
		if fn != invoke {
			fn.AddEnvironment(jsii.String("KITARU_BUCKET"), bucket.BucketName(), nil)
		}
		fn.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings("s3:DeleteObject"),
			Resources: &[]*string{bucket.ArnForObjects(jsii.String(runSecretsPrefix + "*"))},
		}))
	}

	// The reaper runs on a schedule: executions still running past the
	// workflow's deadline end failed (Runner.Lost). EventBridge retries a
	// failed invocation, which is safe: reaping is a conditional write.
	awsevents.NewRule(stack, jsii.String("ReaperSchedule"), &awsevents.RuleProps{
		Description: jsii.String("Kitaru: end executions lost past their deadline (functions/reaper)"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(ReaperSchedule))),
		Targets:     &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fns["reaper"], nil)},
	})

	api, err := newAPI(stack, props, fns, logGroup("ApiAccessLogs"))
	if err != nil {
		return nil, err
	}

	suppressNagFindings(stack, props, nagSubjects{
		bucket: bucket, secret: secret, api: api, stateMachineRole: smRole, runner: runner, functions: fns,
	})

	out := func(id string, value *string, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out("ApiUrl", awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("https://"), api.RestApiId(), jsii.String(".execute-api."), stack.Region(), jsii.String("."),
		stack.UrlSuffix(), jsii.String("/"), jsii.String(props.StageName),
	}), "KITARU_SERVER_URL: the API's base URL")
	out("ApiId", api.RestApiId(), "REST API id (LocalStack: http://localhost:4566/_aws/execute-api/<id>/<stage>)")
	out("StageName", jsii.String(props.StageName), "API Gateway stage")
	out("TableName", table.TableName(), "DynamoDB table (kitaru admin keys --table)")
	out("StateMachineArn", sm.StateMachineArn(), "Step Functions state machine running snapshot executions")
	out("BucketName", bucket.BucketName(), "S3 bucket for source bundles and large results")
	out("SigningSecretArn", secret.SecretArn(), "Secrets Manager secret that signs bearer tokens")
	return stack, nil
}

// newAPI builds the REST API: one resource per route template of
// httpapi.Routes(), one method per route behind the REQUEST authorizer, a
// Lambda proxy integration to the route group's function.
//
// Request bodies: REST APIs cap payloads at 10 MB and Lambda at 6 MB, neither
// configurable; the handlers answer 413 above 1 MiB (6 MiB for deploys).
//
// Request validation: one validator (parameters and bodies) on every method;
// each method declares its path parameters as required. No method has a
// request model, so API Gateway checks no body: the handlers validate bodies
// and answer with the API's error codes, and a model here would be a second
// copy of api/openapi.yaml.
func newAPI(stack awscdk.Stack, props KitaruStackProps, fns map[string]awslambda.Function, accessLogs awslogs.LogGroup) (awsapigateway.RestApi, error) {
	authorizer := awsapigateway.NewRequestAuthorizer(stack, jsii.String("Authorizer"), &awsapigateway.RequestAuthorizerProps{
		Handler: fns["authorizer"],
		IdentitySources: &[]*string{
			awsapigateway.IdentitySource_Header(jsii.String("Authorization")),
			awsapigateway.IdentitySource_Header(jsii.String("X-Kitaru-Project")),
		},
		ResultsCacheTtl: awscdk.Duration_Seconds(props.AuthorizerCacheTTLSeconds),
	})
	api := awsapigateway.NewRestApi(stack, jsii.String("Api"), &awsapigateway.RestApiProps{
		Description:    jsii.String("Kitaru deployments API (api/openapi.yaml)"),
		CloudWatchRole: jsii.Bool(props.APIGatewayCloudWatchRole),
		EndpointTypes:  &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(props.StageName),
			ThrottlingRateLimit:  jsii.Number(props.ThrottleRate),
			ThrottlingBurstLimit: jsii.Number(props.ThrottleBurst),
			MethodOptions:        invokeThrottling(props),
			MetricsEnabled:       jsii.Bool(true),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat)),
		},
		DefaultMethodOptions: &awsapigateway.MethodOptions{
			Authorizer:        authorizer,
			AuthorizationType: awsapigateway.AuthorizationType_CUSTOM,
		},
	})
	if props.CustomAPIID != "" {
		awscdk.Tags_Of(api).Add(jsii.String("_custom_id_"), jsii.String(props.CustomAPIID), nil)
	}
	for _, r := range httpapi.GatewayRefusals {
		typ, ok := gatewayResponseTypes[r.ID]
		if !ok {
			return nil, fmt.Errorf("gateway refusal %s has no API Gateway response type in gatewayResponseTypes", r.ID)
		}
		var headers *map[string]*string
		if s := r.RetryAfterSeconds(); s > 0 {
			// A static value: gateway responses take quoted literals.
			headers = &map[string]*string{httpapi.HeaderRetryAfter: jsii.String(fmt.Sprintf("'%d'", s))}
		}
		api.AddGatewayResponse(jsii.String(r.ID), &awsapigateway.GatewayResponseOptions{
			Type:            typ,
			StatusCode:      jsii.String(strconv.Itoa(r.Status)),
			Templates:       &map[string]*string{"application/json": jsii.String(errorEnvelope(r))},
			ResponseHeaders: headers,
		})
	}
	validator := api.AddRequestValidator(jsii.String("RequestValidator"), &awsapigateway.RequestValidatorOptions{
		ValidateRequestParameters: jsii.Bool(true),
		ValidateRequestBody:       jsii.Bool(true),
	})
	integrations := map[string]awsapigateway.LambdaIntegration{}
	for _, r := range httpapi.Routes() {
		name := FunctionForGroup(r.Group)
		in, ok := integrations[name]
		if !ok {
			in = awsapigateway.NewLambdaIntegration(fns[name], &awsapigateway.LambdaIntegrationOptions{
				Proxy: jsii.Bool(true), AllowTestInvoke: jsii.Bool(false),
			})
			integrations[name] = in
		}
		api.Root().ResourceForPath(jsii.String(r.Path)).AddMethod(jsii.String(r.Method), in, &awsapigateway.MethodOptions{
			RequestValidator:  validator,
			RequestParameters: pathParameters(r.Path),
		})
	}
	return api, nil
}

// invokeThrottling is the stage's method settings for the invocation
// routes (the ones that start executions; a cancel stops one, under another
// quota): their own rate and burst (DefaultInvokeThrottleRate), keyed by
// resource path and method as API Gateway's method settings are.
func invokeThrottling(props KitaruStackProps) *map[string]*awsapigateway.MethodDeploymentOptions {
	opts := map[string]*awsapigateway.MethodDeploymentOptions{}
	for _, r := range httpapi.Routes() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/invocations") {
			opts[r.Path+"/"+r.Method] = &awsapigateway.MethodDeploymentOptions{
				ThrottlingRateLimit:  jsii.Number(props.InvokeThrottleRate),
				ThrottlingBurstLimit: jsii.Number(props.InvokeThrottleBurst),
			}
		}
	}
	return &opts
}

// pathParameters declares the {name} segments of a route template as
// required request parameters.
func pathParameters(template string) *map[string]*bool {
	params := map[string]*bool{}
	for _, seg := range strings.Split(template, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			params["method.request.path."+strings.Trim(seg, "{}")] = jsii.Bool(true)
		}
	}
	return &params
}

// accessLogFormat is one JSON line per request; it never includes headers,
// so no credential reaches the logs.
const accessLogFormat = `{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",` +
	`"requestTime":"$context.requestTime","method":"$context.httpMethod","resource":"$context.resourcePath",` +
	`"path":"$context.path","status":"$context.status","responseLength":"$context.responseLength",` +
	`"latency":"$context.responseLatency","integrationLatency":"$context.integrationLatency",` +
	`"principal":"$context.authorizer.principalId","project":"$context.authorizer.project",` +
	`"authorizerError":"$context.authorizer.error","error":"$context.error.messageString"}`

// gatewayResponseTypes maps each of httpapi.GatewayRefusals to the API
// Gateway response it renders.
var gatewayResponseTypes = map[string]awsapigateway.ResponseType{
	"Unauthorized":         awsapigateway.ResponseType_UNAUTHORIZED(),
	"AccessDenied":         awsapigateway.ResponseType_ACCESS_DENIED(),
	"MissingRoute":         awsapigateway.ResponseType_MISSING_AUTHENTICATION_TOKEN(),
	"Throttled":            awsapigateway.ResponseType_THROTTLED(),
	"RequestTooLarge":      awsapigateway.ResponseType_REQUEST_TOO_LARGE(),
	"IntegrationTimeout":   awsapigateway.ResponseType_INTEGRATION_TIMEOUT(),
	"BadRequestParameters": awsapigateway.ResponseType_BAD_REQUEST_PARAMETERS(),
	"Default5xx":           awsapigateway.ResponseType_DEFAULT_5XX(),
}

// errorEnvelope is the API's error body for a gateway refusal; the request
// id helps find the access log line.
func errorEnvelope(r httpapi.GatewayRefusal) string {
	details := `"request_id":"$context.requestId"`
	if r.Reason != "" {
		details += fmt.Sprintf(`,%q:%q`, registry.DetailReason, r.Reason)
	}
	return fmt.Sprintf(`{"error":{"code":%q,"message":%q,"details":{%s}}}`, r.Code, r.Message, details)
}

func withDefaults(p KitaruStackProps) KitaruStackProps {
	if p.Stacks == "" {
		p.Stacks = "aws"
	}
	if p.StageName == "" {
		p.StageName = "api"
	}
	if p.AuthorizerCacheTTLSeconds == nil {
		p.AuthorizerCacheTTLSeconds = jsii.Number(DefaultAuthorizerCacheTTLSeconds)
	}
	if p.ThrottleRate == 0 {
		p.ThrottleRate = DefaultThrottleRate
	}
	if p.ThrottleBurst == 0 {
		p.ThrottleBurst = DefaultThrottleBurst
	}
	if p.InvokeThrottleRate == 0 {
		p.InvokeThrottleRate = DefaultInvokeThrottleRate
	}
	if p.InvokeThrottleBurst == 0 {
		p.InvokeThrottleBurst = DefaultInvokeThrottleBurst
	}
	reserved := maps.Clone(DefaultReservedConcurrency)
	maps.Copy(reserved, p.ReservedConcurrency)
	p.ReservedConcurrency = reserved
	if p.LogRetention == "" {
		p.LogRetention = awslogs.RetentionDays_ONE_MONTH
	}
	if p.RunnerRuntime == nil {
		p.RunnerRuntime = RunnerPython()
	}
	return p
}

// checkDist fails early, naming the fix, when `make build` has not run.
func checkDist(dist string) error {
	want := []string{filepath.Join("runner", "runner.py")}
	for _, f := range goFunctions {
		want = append(want, filepath.Join(f.name, "bootstrap"))
	}
	for _, w := range want {
		if _, err := os.Stat(filepath.Join(dist, w)); err != nil {
			return fmt.Errorf("%s is missing: run `make build` first (it writes the Lambda code into %s)", filepath.Join(dist, w), dist)
		}
	}
	return nil
}

func pascal(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// FlowSecretsPrefix starts the Secrets Manager names of a stack's flow
// secrets: kitaru/<stack name>/<project>/<NAME> (docs/secrets.md).
func FlowSecretsPrefix(stack awscdk.Stack) string { return "kitaru/" + *stack.StackName() + "/" }

// grantFlowSecrets lets deploy (which serves /v1/secrets) write and delete
// the stack's flow secrets and invoke read them and hand them to runs,
// both scoped to FlowSecretsPrefix; ListSecrets has no resource-level
// permission, so it is granted on "*" and the store filters by prefix.
func grantFlowSecrets(stack awscdk.Stack, deploy, invoke awslambda.Function, bucket awss3.Bucket) {
	prefix := FlowSecretsPrefix(stack)
	arn := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("secretsmanager"), Resource: jsii.String("secret"),
		ResourceName: jsii.String(prefix + "*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	for _, fn := range []awslambda.Function{deploy, invoke} {
		fn.AddEnvironment(jsii.String("KITARU_SECRETS_PREFIX"), jsii.String(prefix), nil)
	}
	deploy.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret",
			"secretsmanager:DeleteSecret", "secretsmanager:TagResource"),
		Resources: &[]*string{arn},
	}))
	deploy.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:ListSecrets"),
		Resources: jsii.Strings("*"),
	}))
	invoke.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: &[]*string{arn},
	}))
	// The hand-off: invoke writes the run object and presigns its GET.
	invoke.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:PutObject", "s3:GetObject"),
		Resources: &[]*string{bucket.ArnForObjects(jsii.String(runSecretsPrefix + "*"))},
	}))
}
