package gatewayauth_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestTheAuthorizerAnswersAPIGateway(t *testing.T) {
	ctx := context.Background()
	store := dynamotest.New(t).Store
	k, plain, err := auth.NewKey([]string{"team-a"}, registry.RoleConsumer, "", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	secret, _ := auth.NewSecret()
	a := &gatewayauth.Authorizer{Auth: &auth.Authenticator{Keys: store, Tokens: &auth.Signer{Secret: secret}}}
	const arn = "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/POST/v1/flows/research_agent/invocations"
	req := func(headers map[string]string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
		return events.APIGatewayCustomAuthorizerRequestTypeRequest{Type: "REQUEST", MethodArn: arn, Headers: headers, HTTPMethod: "POST"}
	}

	t.Run("a valid key is allowed on every method and path of the stage, with the principal as context", func(t *testing.T) {
		resp, err := a.Handle(ctx, req(map[string]string{"authorization": "Bearer " + plain, "x-kitaru-project": "team-a"}))
		if err != nil {
			t.Fatal(err)
		}
		st := resp.PolicyDocument.Statement[0]
		if st.Effect != "Allow" || st.Resource[0] != "arn:aws:execute-api:eu-west-1:123456789012:abc123/v1/*/*" {
			t.Fatalf("policy %+v", resp.PolicyDocument)
		}
		if resp.Context["project"] != "team-a" || resp.Context["role"] != "consumer" || resp.Context["principal_id"] != k.ID || resp.Context["credential"] != "api_key" {
			t.Fatalf("context %v", resp.Context)
		}
	})
	t.Run("a key used for a project it lacks is denied (403)", func(t *testing.T) {
		resp, err := a.Handle(ctx, req(map[string]string{"Authorization": "Bearer " + plain, "X-Kitaru-Project": "team-b"}))
		if err != nil || resp.PolicyDocument.Statement[0].Effect != "Deny" || resp.Context != nil {
			t.Fatalf("%+v %v", resp, err)
		}
	})
	t.Run("no or invalid credentials are Unauthorized (401)", func(t *testing.T) {
		for _, h := range []map[string]string{{}, {"Authorization": "Bearer nope"}, {"Authorization": plain}} {
			if _, err := a.Handle(ctx, req(h)); !errors.Is(err, gatewayauth.ErrUnauthorized) || err.Error() != "Unauthorized" {
				t.Fatalf("%v: got %v", h, err)
			}
		}
	})
	t.Run("Decide keeps why a request is Unauthorized, for kitaru dev", func(t *testing.T) {
		_, err := a.Decide(ctx, req(map[string]string{"Authorization": "Bearer nope"}))
		if !errors.Is(err, gatewayauth.ErrUnauthorized) || registry.CodeOf(err) != registry.CodeUnauthenticated {
			t.Fatalf("got %v; want Unauthorized wrapping the authenticator's unauthenticated error", err)
		}
	})
}

var testNow = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
