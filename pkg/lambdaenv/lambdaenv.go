// Package lambdaenv wires an API Lambda function from its environment: the
// DynamoDB store, the stacks and a JSON logger around an httpapi.Handler.
// functions/<name>/main.go call Start with their route group.
package lambdaenv

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// Env is the configuration a function reads from its environment.
type Env struct {
	// Table is the DynamoDB table (KITARU_TABLE, required).
	Table string
	// Stacks is the stack catalogue (KITARU_STACKS, KITARU_DEFAULT_STACK).
	Stacks registry.Stacks
	// DynamoDBEndpoint overrides the DynamoDB endpoint (DYNAMODB_ENDPOINT), e.g. for LocalStack.
	DynamoDBEndpoint string
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
	return env, nil
}

// ReadStore reads only the store's settings (KITARU_TABLE, DYNAMODB_ENDPOINT),
// for functions that serve no API routes, such as finish.
func ReadStore(getenv func(string) string) (Env, error) {
	env := Env{Table: getenv("KITARU_TABLE"), DynamoDBEndpoint: getenv("DYNAMODB_ENDPOINT")}
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

// NewHandler builds the handler serving group on the store env names.
func NewHandler(ctx context.Context, env Env, group httpapi.Group, logger *slog.Logger) (*httpapi.Handler, error) {
	store, err := NewStore(ctx, env)
	if err != nil {
		return nil, err
	}
	return httpapi.New(store, httpapi.Config{
		Stacks: env.Stacks,
		Groups: []httpapi.Group{group},
		Logger: logger,
	}), nil
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
