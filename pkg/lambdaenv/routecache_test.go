package lambdaenv_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/lambdaenv"
	"github.com/kitaru/deployments/pkg/registry"
)

// The resolve function keeps the routes it read for KITARU_ROUTE_CACHE_BOUND:
// a tag moved by another function shows within the bound, not at once
// (unless the caller sends the mover's revision); a bound of 0 reads every
// time.
func TestTheResolveFunctionServesRoutesForTheConfiguredBound(t *testing.T) {
	tbl := dynamotest.New(t)
	ctx := context.Background()
	for range 2 {
		if _, err := tbl.Store.Deploy(ctx, registry.DeployRequest{Project: "p", Flow: "agent", Entrypoint: "flows/agent.py:agent",
			Inputs: json.RawMessage(`{}`), Stack: "aws", By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	base := lambdaenv.Env{Table: tbl.Name, DynamoDBEndpoint: tbl.Endpoint, Stacks: registry.Stacks{All: []registry.Stack{{Name: "aws", RemoteExecutable: true}}, Default: "aws"}}
	resolve := events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/v1/flows/agent/resolve", RequestContext: events.APIGatewayProxyRequestContext{
		Authorizer: map[string]any{"project": "p", "role": "producer", "principal_id": "u", "credential": "api_key"}}}
	tests := []struct {
		name  string
		bound time.Duration
		group httpapi.Group
		// want is the version resolved right after another process moved default from 1 to 2.
		want int
	}{
		{"with a bound of a minute the resolve function serves its cached route", time.Minute, httpapi.GroupResolve, 1},
		{"with a bound of 0 the resolve function reads the move", 0, httpapi.GroupResolve, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			move := func(version int) {
				if _, err := tbl.Store.PutTag(ctx, registry.TagRequest{Project: "p", Flow: "agent", Tag: registry.DefaultTag, Version: version, Exclusive: true, By: "test"}); err != nil {
					t.Fatal(err)
				}
			}
			move(1)
			env := base
			env.RouteCacheBound = tt.bound
			h, err := lambdaenv.NewHandler(ctx, awsCfg, env, tt.group, lambdaenv.Services{}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			versionOf := func() int {
				resp, err := h.Handle(ctx, resolve)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("resolve: %d %v %s", resp.StatusCode, err, resp.Body)
				}
				var res registry.Resolution
				if err := json.Unmarshal([]byte(resp.Body), &res); err != nil {
					t.Fatal(err)
				}
				return res.Deployment.Version
			}
			versionOf()
			move(2)
			if got := versionOf(); got != tt.want {
				t.Fatalf("resolved v%d after the move, want v%d", got, tt.want)
			}
		})
	}
}
