package lambdaenv_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
	"github.com/kitaru/deployments/pkg/lambdaenv/s3env"
	"github.com/kitaru/deployments/pkg/lambdaenv/sfnenv"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestReadTheEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    lambdaenv.Env
		wantErr bool
	}{
		{"a table and stacks are enough", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws,local:local-only"},
			lambdaenv.Env{Table: "kitaru", Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}, {Name: "local"}}, Default: "aws"}, RouteCacheBound: time.Second}, false},
		{"the default stack and endpoint are read", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "a,b", "KITARU_DEFAULT_STACK": "b", "DYNAMODB_ENDPOINT": "http://localhost:4566"},
			lambdaenv.Env{Table: "kitaru", DynamoDBEndpoint: "http://localhost:4566", Stacks: registry.Stacks{All: []registry.Stack{{Name: "a", RemoteExecutable: true}, {Name: "b", RemoteExecutable: true}}, Default: "b"}, RouteCacheBound: time.Second}, false},
		{"a missing table is an error", map[string]string{"KITARU_STACKS": "aws"}, lambdaenv.Env{}, true},
		{"missing stacks are an error", map[string]string{"KITARU_TABLE": "kitaru"}, lambdaenv.Env{}, true},
		{"a local-only default stack is an error", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws,local:local-only", "KITARU_DEFAULT_STACK": "local"}, lambdaenv.Env{}, true},
		{"the bundle limit, bucket, state machine and bearer verification are read", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws", "KITARU_MAX_BUNDLE_MB": "16", "KITARU_BUCKET": "b", "KITARU_STATE_MACHINE_ARN": "arn:sm", "KITARU_VERIFY_BEARER": "true"},
			lambdaenv.Env{Table: "kitaru", Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}}, Default: "aws"}, MaxBundleBytes: 16 << 20, Bucket: "b", StateMachineARN: "arn:sm", VerifyBearer: true, RouteCacheBound: time.Second}, false},
		{"the route cache bound is read", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws", "KITARU_ROUTE_CACHE_BOUND": "250ms"},
			lambdaenv.Env{Table: "kitaru", Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}}, Default: "aws"}, RouteCacheBound: 250 * time.Millisecond}, false},
		{"a route cache bound of 0 turns the cache off", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws", "KITARU_ROUTE_CACHE_BOUND": "0"},
			lambdaenv.Env{Table: "kitaru", Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}}, Default: "aws"}}, false},
		{"a route cache bound that is not a duration is an error", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws", "KITARU_ROUTE_CACHE_BOUND": "1"}, lambdaenv.Env{}, true},
		{"a route cache bound above a minute is an error", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws", "KITARU_ROUTE_CACHE_BOUND": "1h"}, lambdaenv.Env{}, true},
		{"a bundle limit that is not a number is an error", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws", "KITARU_MAX_BUNDLE_MB": "lots"}, lambdaenv.Env{}, true},
		{"a bearer setting that is not true or false is an error", map[string]string{"KITARU_TABLE": "kitaru", "KITARU_STACKS": "aws", "KITARU_VERIFY_BEARER": "yes"}, lambdaenv.Env{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lambdaenv.Read(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("env (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAFunctionServesOnlyItsGroupAndFailsClosed(t *testing.T) {
	env := lambdaenv.Env{Table: "kitaru", DynamoDBEndpoint: "http://127.0.0.1:1", Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}}, Default: "aws"}}
	h, err := lambdaenv.NewHandler(context.Background(), aws.Config{}, env, httpapi.GroupTag, lambdaenv.Services{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		req    events.APIGatewayProxyRequest
		status int
	}{
		{"a request without authorizer context is unauthenticated", events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/v1/flows/f/tags/t/history"}, 401},
		{"another group's route is not found", events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/v1/stacks", RequestContext: events.APIGatewayProxyRequestContext{
			Authorizer: map[string]any{"project": "p", "role": "producer", "principal_id": "u", "credential": "api_key"}}}, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.Handle(context.Background(), tt.req)
			if err != nil || resp.StatusCode != tt.status {
				t.Errorf("status %d, err %v; want %d", resp.StatusCode, err, tt.status)
			}
		})
	}
}

func TestAGroupStartsOnlyWithTheServicesAndSettingsItNeeds(t *testing.T) {
	base := lambdaenv.Env{Table: "kitaru", DynamoDBEndpoint: "http://127.0.0.1:1", Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}}, Default: "aws"}}
	withBucket, withBoth := base, base
	withBucket.Bucket = "bundles"
	withBoth.Bucket, withBoth.StateMachineARN = "bundles", "arn:aws:states:us-east-1:111122223333:stateMachine:kitaru"
	s3Only := lambdaenv.Services{Blobs: s3env.NewBlobs}
	both := lambdaenv.Services{Blobs: s3env.NewBlobs, Executor: sfnenv.NewExecutor}
	tests := []struct {
		name     string
		env      lambdaenv.Env
		group    httpapi.Group
		services lambdaenv.Services
		wantErr  string // empty: starts
	}{
		{"resolve needs no bucket or state machine", base, httpapi.GroupResolve, lambdaenv.Services{}, ""},
		{"deploy without a blob store does not start", withBucket, httpapi.GroupDeploy, lambdaenv.Services{}, "Services.Blobs"},
		{"deploy without a bucket does not start", base, httpapi.GroupDeploy, s3Only, "KITARU_BUCKET"},
		{"deploy with S3 and a bucket starts", withBucket, httpapi.GroupDeploy, s3Only, ""},
		{"invoke without an executor does not start", withBoth, httpapi.GroupInvoke, s3Only, "Services.Executor"},
		{"invoke without a state machine does not start", withBucket, httpapi.GroupInvoke, both, "KITARU_STATE_MACHINE_ARN"},
		{"invoke with S3, Step Functions and both settings starts", withBoth, httpapi.GroupInvoke, both, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lambdaenv.NewHandler(context.Background(), aws.Config{}, tt.env, tt.group, tt.services, slog.New(slog.DiscardHandler))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("NewHandler: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("NewHandler error = %v; want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestTheAWSConfigurationComesFromLambdasEnvironmentOnly(t *testing.T) {
	env := lambdaenv.Env{Table: "kitaru"}
	for _, missing := range []string{"AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		t.Run("without "+missing+" a cold start fails naming it", func(t *testing.T) {
			t.Setenv("AWS_REGION", "eu-west-1")
			t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
			t.Setenv(missing, "")
			// A profile would satisfy the SDK's default chain; Lambda has none.
			t.Setenv("AWS_PROFILE", "nonexistent-profile")
			_, err := lambdaenv.NewStore(context.Background(), env)
			if err == nil || !strings.Contains(err.Error(), missing) {
				t.Errorf("error %v does not name %s", err, missing)
			}
		})
	}
	t.Run("with the role's variables the store is built without reading any file", func(t *testing.T) {
		t.Setenv("AWS_REGION", "eu-west-1")
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		t.Setenv("AWS_CONFIG_FILE", "/nonexistent/config")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
		t.Setenv("AWS_PROFILE", "nonexistent-profile")
		if _, err := lambdaenv.NewStore(context.Background(), env); err != nil {
			t.Fatal(err)
		}
	})
}
