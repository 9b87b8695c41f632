// Package storeenv is the cold start every Lambda function shares: the AWS
// configuration Lambda's environment gives (region, the role's credentials),
// the registry table and its DynamoDB store, and a JSON logger. Functions
// that need only the store (finish, reaper) start with it alone; it is apart
// from lambdaenv so that they do not link the API's handlers or the Secrets
// Manager client.
package storeenv

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/sdkbody"
)

// Table names the registry table.
type Table struct {
	// Name is the DynamoDB table (KITARU_TABLE, required).
	Name string
	// Endpoint overrides the DynamoDB endpoint (DYNAMODB_ENDPOINT), e.g. for LocalStack.
	Endpoint string
}

// ReadTable reads Table through getenv (os.Getenv in a function).
func ReadTable(getenv func(string) string) (Table, error) {
	t := Table{Name: getenv("KITARU_TABLE"), Endpoint: getenv("DYNAMODB_ENDPOINT")}
	if t.Name == "" {
		return Table{}, fmt.Errorf("KITARU_TABLE is not set; set it to the registry's DynamoDB table name")
	}
	return t, nil
}

// ConfigLoader loads a cold start's AWS configuration: LoadAWSConfig, or a
// counting one in the test that proves a cold start loads it once.
type ConfigLoader func(getenv func(string) string) (aws.Config, error)

// LoadAWSConfig is a function's AWS configuration: its region and the
// execution role's credentials, which Lambda puts in the environment. It
// reads nothing else (no shared config files, profiles, SSO or instance
// metadata): a cold start touches no file and the bootstrap links none of
// the SDK's credential chain (about 1.9 MB of each bootstrap). A cold start
// calls it once and builds every client from its result.
func LoadAWSConfig(getenv func(string) string) (aws.Config, error) {
	region, id, secret := getenv("AWS_REGION"), getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	if region == "" || id == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set; Lambda sets them from the function's role (for a local run, set them yourself)")
	}
	creds := credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))
	// sdkbody: see its package doc; every client of the function is built from this config.
	return aws.Config{Region: region, Credentials: aws.NewCredentialsCache(creds), HTTPClient: sdkbody.Wrap(nil)}, nil
}

// NewStore builds the DynamoDB store on t from awsCfg.
func NewStore(awsCfg aws.Config, t Table) (*dynamo.Store, error) {
	db, err := dynamo.NewClientFromConfig(awsCfg, t.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("build DynamoDB client: %w", err)
	}
	return dynamo.New(db, t.Name), nil
}

// Logger is a function's JSON logger; every line names the function.
func Logger(function string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(os.Stdout, nil)).With("function", function)
}

// Start is the cold start of a function that needs only the store (finish,
// reaper): its logger and the store KITARU_TABLE names. A configuration
// error is logged and ends the process.
func Start(function string) (*dynamo.Store, *slog.Logger) {
	logger := Logger(function)
	store, err := FromEnv(os.Getenv, LoadAWSConfig)
	if err != nil {
		logger.Error("cold start failed", "error", err)
		os.Exit(1)
	}
	return store, logger
}

// FromEnv builds the store the environment names, loading the AWS
// configuration with load: Start without ending the process.
func FromEnv(getenv func(string) string, load ConfigLoader) (*dynamo.Store, error) {
	t, err := ReadTable(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := load(getenv)
	if err != nil {
		return nil, err
	}
	return NewStore(awsCfg, t)
}
