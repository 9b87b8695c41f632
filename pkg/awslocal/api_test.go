package awslocal

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/gateway"
)

func TestValuesResolveTheIntrinsicsCDKWrites(t *testing.T) {
	vals := Values{"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws", "Fn.Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "Table": "t1"}
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"Ref of a resource", `{"Ref": "Table"}`, "t1"},
		{"Fn::GetAtt", `{"Fn::GetAtt": ["Fn", "Arn"]}`, "arn:aws:lambda:us-east-1:123456789012:function:f"},
		{"Fn::Join of refs", `{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":apigateway:", {"Ref": "AWS::Region"}]]}`, "arn:aws:apigateway:us-east-1"},
		{"Fn::Select of Fn::Split (an authorizer URI's partition)", `{"Fn::Select": [1, {"Fn::Split": [":", {"Fn::GetAtt": ["Fn", "Arn"]}]}]}`, "aws"},
		{"Fn::Sub of pseudo parameters", `{"Fn::Sub": "cdk-assets-${AWS::AccountId}-${AWS::Region}"}`, "cdk-assets-123456789012-us-east-1"},
		{"nested maps resolve inside", `{"A": {"Ref": "Table"}, "B": [1, {"Ref": "Table"}]}`, map[string]any{"A": "t1", "B": []any{1.0, "t1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in any
			if err := json.Unmarshal([]byte(tt.in), &in); err != nil {
				t.Fatal(err)
			}
			got, err := vals.Resolve(in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a reference to something not created is an error naming it", func(t *testing.T) {
		if _, err := vals.Resolve(map[string]any{"Ref": "Nope"}); err == nil {
			t.Error("resolved")
		}
	})
}

func TestMatchPrefersLiteralPathPartsAsAPIGatewayDoes(t *testing.T) {
	a := &API{}
	for _, r := range []string{"GET /v1/flows/{flow}", "GET /v1/flows/{flow}/deployments/{version}", "POST /v1/executions/{id}/cancel", "GET /v1/executions/{id}", "GET /v1/executions/special"} {
		httpMethod, resource, _ := strings.Cut(r, " ")
		a.routes = append(a.routes, &method{httpMethod: httpMethod, resource: resource, segments: splitResource(resource)})
	}
	tests := []struct {
		method, path string
		resource     string
		params       map[string]string
	}{
		{"GET", "/v1/flows/a", "/v1/flows/{flow}", map[string]string{"flow": "a"}},
		{"GET", "/v1/flows/a/deployments/3", "/v1/flows/{flow}/deployments/{version}", map[string]string{"flow": "a", "version": "3"}},
		{"GET", "/v1/executions/special", "/v1/executions/special", nil},
		{"GET", "/v1/executions/ex_1", "/v1/executions/{id}", map[string]string{"id": "ex_1"}},
		{"POST", "/v1/executions/ex_1/cancel", "/v1/executions/{id}/cancel", map[string]string{"id": "ex_1"}},
		{"DELETE", "/v1/flows/a", "", nil},
		{"GET", "/v1/flows//deployments/3", "", nil},
		{"GET", "/v1/nowhere", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			route, ok := a.Match(tt.method, tt.path)
			if ok != (tt.resource != "") || route.Resource != tt.resource {
				t.Fatalf("matched %v %q; want %q", ok, route.Resource, tt.resource)
			}
			if diff := cmp.Diff(tt.params, route.PathParameters); diff != "" {
				t.Errorf("parameters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRefusalsUseTheTemplatesGatewayResponses(t *testing.T) {
	a := &API{responses: map[gateway.ResponseType]gatewayResponse{
		gateway.Unauthorized: {status: 401, template: `{"error":{"code":"unauthenticated","details":{"request_id":"$context.requestId"}}}`},
		gateway.Default5XX:   {status: 500, template: `{"error":{"code":"internal"}}`},
	}}
	tests := []struct {
		name   string
		err    error
		status int
		body   string
	}{
		{"a customised type renders its template with the request id", gateway.Refuse(gateway.Unauthorized, "x"), 401, `{"error":{"code":"unauthenticated","details":{"request_id":"req-1"}}}`},
		{"a 5xx type without its own falls back to DEFAULT_5XX", gateway.Refuse(gateway.AuthorizerFailure, "x"), 500, `{"error":{"code":"internal"}}`},
		{"a 4xx type with no template and no DEFAULT_4XX is API Gateway's own", gateway.Refuse(gateway.MissingAuthenticationToken, "x"), 403, `{"message":"Missing Authentication Token"}`},
		{"any other error is a 5xx", errors.New("boom"), 500, `{"error":{"code":"internal"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.Respond(tt.err, "req-1")
			if resp.StatusCode != tt.status || resp.Body != tt.body {
				t.Errorf("answered %d %s; want %d %s", resp.StatusCode, resp.Body, tt.status, tt.body)
			}
		})
	}
}

func TestFunctionOfURIReadsTheIntegrationsFunction(t *testing.T) {
	fn, err := functionOfURI("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:f/invocations")
	if err != nil || fn != "arn:aws:lambda:us-east-1:123456789012:function:f" {
		t.Errorf("got %q, %v", fn, err)
	}
	if _, err := functionOfURI("arn:aws:apigateway:us-east-1:s3:path/bucket"); err == nil {
		t.Error("an S3 integration was read as a function")
	}
}
