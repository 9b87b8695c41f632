package httpapi_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestBadInputIsRefusedAndLeavesTheTableUnchanged sends each kind of bad
// request to a flow with two versions and checks the envelope, and that
// nothing the API shows has changed afterwards.
func TestBadInputIsRefusedAndLeavesTheTableUnchanged(t *testing.T) {
	f := newFixture(t)
	must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody(`"tag": "canary", "exclusive": true`)), 201)
	lambda := f.handler(httpapi.Config{}) // as in Lambda

	const deploy = "/v1/flows/research_agent/deployments"
	const stable = "/v1/flows/research_agent/tags/stable"
	bigInputs := deployBody(`"inputs": {"blob": "` + strings.Repeat("x", registry.MaxInputsBytes) + `"}`)
	bigInputs = strings.Replace(bigInputs, `"inputs": {"topic": "durable agents"}, `, "", 1)
	tests := []struct {
		name    string
		handler *httpapi.Handler // nil is the dev handler
		req     events.APIGatewayProxyRequest
		status  int
		code    registry.Code
		mention string // the message must contain this
	}{
		{"malformed JSON is refused", nil, request("POST", deploy, `{"entrypoint": `), 400, registry.CodeInvalidArgument, "not valid JSON"},
		{"an empty body is refused", nil, request("POST", deploy, ``), 400, registry.CodeInvalidArgument, "empty"},
		{"a body that is not an object is refused", nil, request("POST", deploy, `["entrypoint"]`), 400, registry.CodeInvalidArgument, "JSON object"},
		{"two JSON objects are refused", nil, request("POST", deploy, deployBody("")+`{}`), 400, registry.CodeInvalidArgument, "after the JSON object"},
		{"an unknown field is refused by name", nil, request("POST", deploy, deployBody(`"colour": "red"`)), 400, registry.CodeInvalidArgument, `"colour"`},
		{"an unknown nested field is refused by its path", nil, request("POST", deploy, deployBody(`"source": {"digset": "x"}`)), 400, registry.CodeInvalidArgument, `"source.digset"`},
		{"a field differing only in case is unknown", nil, request("POST", deploy, `{"Entrypoint": "f.py:f"}`), 400, registry.CodeInvalidArgument, `"Entrypoint"`},
		{"a field on a rollback, which takes none, is refused", nil, request("POST", "/v1/flows/research_agent/tags/canary/rollback", `{"to": 1}`), 400, registry.CodeInvalidArgument, "takes no fields"},
		{"a rollback body that is not an object is refused", nil, request("POST", "/v1/flows/research_agent/tags/canary/rollback", `null`), 400, registry.CodeInvalidArgument, "JSON object"},
		{"a server-owned version is refused", nil, request("POST", deploy, deployBody(`"version": 7`)), 400, registry.CodeInvalidArgument, "set by the server"},
		{"a server-owned project is refused", nil, request("POST", deploy, deployBody(`"project": "other"`)), 400, registry.CodeInvalidArgument, "set by the server"},
		{"server-owned tags are refused", nil, request("POST", deploy, deployBody(`"tags": {"x": true}`)), 400, registry.CodeInvalidArgument, "set by the server"},
		{"a server-owned created_by on a tag is refused", nil, request("PUT", stable, `{"version": 1, "created_by": "me"}`), 400, registry.CodeInvalidArgument, "set by the server"},
		{"an entrypoint of the wrong type names the field", nil, request("POST", deploy, `{"entrypoint": 42}`), 400, registry.CodeInvalidArgument, `"entrypoint" must be a string`},
		{"exclusive of the wrong type names the field", nil, request("POST", deploy, deployBody(`"exclusive": "yes"`)), 400, registry.CodeInvalidArgument, `"exclusive" must be true or false`},
		{"a nested field of the wrong type names its path", nil, request("POST", deploy, deployBody(`"source": {"dirty": "yes"}`)), 400, registry.CodeInvalidArgument, `"source.dirty" must be true or false`},
		{"a missing entrypoint is refused", nil, request("POST", deploy, `{}`), 400, registry.CodeInvalidArgument, "entrypoint"},
		{"an empty flow name is refused", nil, request("POST", "/v1/flows//deployments", deployBody("")), 400, registry.CodeInvalidArgument, "empty"},
		{"a 129-character flow name is refused", nil, request("POST", "/v1/flows/"+strings.Repeat("a", 129)+"/deployments", deployBody("")), 400, registry.CodeInvalidArgument, "invalid"},
		{"a flow name with :: is refused", nil, request("POST", "/v1/flows/research::agent/deployments", deployBody("")), 400, registry.CodeInvalidArgument, "::"},
		{"a tag outside the charset in the path is refused", nil, request("PUT", "/v1/flows/research_agent/tags/st$ble", `{"version": 1}`), 400, registry.CodeInvalidArgument, "invalid"},
		{"a tag outside the charset in the body is refused", nil, request("POST", deploy, deployBody(`"tag": "-canary"`)), 400, registry.CodeInvalidArgument, "invalid"},
		{"version 0 in the path is refused", nil, request("DELETE", deploy+"/0", ""), 400, registry.CodeInvalidArgument, "positive integers"},
		{"version -1 in the path is refused", nil, request("DELETE", deploy+"/-1", ""), 400, registry.CodeInvalidArgument, "positive integers"},
		{"version abc in the path is refused", nil, request("DELETE", deploy+"/abc", ""), 400, registry.CodeInvalidArgument, "positive integers"},
		{"version 0 in a tag body is refused", nil, request("PUT", stable, `{"version": 0}`), 400, registry.CodeInvalidArgument, "positive integers"},
		{"version -1 in a tag body is refused", nil, request("PUT", stable, `{"version": -1}`), 400, registry.CodeInvalidArgument, "positive integers"},
		{"version abc in a tag body names the field", nil, request("PUT", stable, `{"version": "abc"}`), 400, registry.CodeInvalidArgument, `"version" must be an integer`},
		{"a tag body without version is refused", nil, request("PUT", stable, `{"exclusive": true}`), 400, registry.CodeInvalidArgument, "required"},
		{"version abc on tag removal is refused", nil, request("DELETE", "/v1/flows/research_agent/tags/canary?version=abc", ""), 400, registry.CodeInvalidArgument, "positive integers"},
		{"tag removal without a version is refused", nil, request("DELETE", "/v1/flows/research_agent/tags/canary", ""), 400, registry.CodeInvalidArgument, "?version=N"},
		{"inputs that are an array are refused", nil, request("POST", deploy, `{"entrypoint": "f.py:f", "inputs": [1]}`), 400, registry.CodeInvalidArgument, "JSON object"},
		{"inputs that are a string are refused", nil, request("POST", deploy, `{"entrypoint": "f.py:f", "inputs": "topic"}`), 400, registry.CodeInvalidArgument, "JSON object"},
		{"inputs that are a number are refused", nil, request("POST", deploy, `{"entrypoint": "f.py:f", "inputs": 3}`), 400, registry.CodeInvalidArgument, "JSON object"},
		{"inputs over 256 KiB are too large", nil, request("POST", deploy, bigInputs), 413, registry.CodePayloadTooLarge, "256 KiB"},
		{"a deploy body over 6 MiB is too large", nil, request("POST", deploy, deployBody(`"description": "`+strings.Repeat("x", httpapi.MaxDeployBodyBytes)+`"`)), 413, registry.CodePayloadTooLarge, "6 MiB"},
		{"a tag body over 1 MiB is too large", nil, request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "x": "`+strings.Repeat("x", httpapi.MaxBodyBytes)+`"}`), 413, registry.CodePayloadTooLarge, "1 MiB"},
		{"a deploy without a source is refused", nil, request("POST", deploy, `{"entrypoint": "flows/research.py:research_agent"}`), 400, registry.CodeInvalidArgument, "source"},
		{"a source naming a bundle that was never uploaded is not found", nil, request("POST", deploy, deployBody(`"source": {"digest": "sha256:`+strings.Repeat("0", 64)+`"}`)), 404, registry.CodeNotFound, "POST /v1/artifacts"},
		{"a source digest that is not sha256 is refused", nil, request("POST", deploy, deployBody(`"source": {"digest": "md5:abc"}`)), 400, registry.CodeInvalidArgument, "sha256"},
		{"an inline archive that is not base64 is refused", nil, request("POST", deploy, deployBody(`"source": {"archive": "%%%"}`)), 400, registry.CodeInvalidArgument, "base64"},
		{"an inline archive that is not a tar.gz is refused", nil, request("POST", deploy, deployBody(`"source": {"archive": "aGVsbG8="}`)), 400, registry.CodeInvalidArgument, ""},
		{"an archive without the entrypoint file is unprocessable", nil, request("POST", deploy, `{"entrypoint": "flows/other.py:research_agent", "source": {"archive": "`+researchArchive+`"}}`), 422, registry.CodeUnprocessable, "flows/other.py"},
		{"resolving by tag and version at once is refused", nil, request("GET", "/v1/flows/research_agent/resolve?tag=canary&version=2", ""), 400, registry.CodeInvalidArgument, "not both"},
		{"a repeated query parameter is refused", nil, request("GET", "/v1/flows/research_agent/resolve?tag=canary&tag=default", ""), 400, registry.CodeInvalidArgument, "once"},
		{"limit 0 is refused", nil, request("GET", deploy+"?limit=0", ""), 400, registry.CodeInvalidArgument, "1 to 200"},
		{"limit 201 is refused", nil, request("GET", deploy+"?limit=201", ""), 400, registry.CodeInvalidArgument, "1 to 200"},
		{"limit +5 is refused", nil, request("GET", deploy+"?limit=%2B5", ""), 400, registry.CodeInvalidArgument, "1 to 200"},
		{"limit 05 is refused", nil, request("GET", deploy+"?limit=05", ""), 400, registry.CodeInvalidArgument, "1 to 200"},
		{"a non-integer If-Match is refused", nil, withHeader(request("PUT", stable, `{"version": 1}`), "if-match", "W/abc"), 400, registry.CodeInvalidArgument, "If-Match"},
		{"deploying to the local stack is refused naming dev", nil, request("POST", deploy, deployBody(`"stack": "local"`)), 422, registry.CodeUnprocessable, "dev"},
		{"deploying to an unknown stack is refused", nil, request("POST", deploy, deployBody(`"stack": "mars"`)), 400, registry.CodeInvalidArgument, "not configured"},
		{"a request without authorizer context is unauthenticated", lambda, anonymous(request("POST", deploy, deployBody(""))), 401, registry.CodeUnauthenticated, "credentials"},
		{"a read without authorizer context is unauthenticated", lambda, anonymous(request("GET", deploy, "")), 401, registry.CodeUnauthenticated, "credentials"},
		{"an authorizer context without a principal id is unauthenticated", lambda, as(request("GET", deploy, ""), "default", "producer", ""), 401, registry.CodeUnauthenticated, "identity"},
		{"a consumer may not deploy", lambda, as(request("POST", deploy, deployBody("")), "default", "consumer", "c1"), 403, registry.CodePermissionDenied, "consumer"},
		{"a consumer may not move a tag", lambda, as(request("PUT", stable, `{"version": 1}`), "default", "consumer", "c1"), 403, registry.CodePermissionDenied, "consumer"},
		{"a consumer may not delete a version", lambda, as(request("DELETE", deploy+"/1", ""), "default", "consumer", "c1"), 403, registry.CodePermissionDenied, "consumer"},
		{"a shared tag may not take an exclusive tag's name", nil, request("PUT", "/v1/flows/research_agent/tags/canary", `{"version": 1}`), 409, registry.CodeConflict, "canary"},
		{"the default tag cannot be removed", nil, request("DELETE", "/v1/flows/research_agent/tags/default?version=1", ""), 409, registry.CodeConflict, "default"},
		{"a version holding default cannot be deleted", nil, request("DELETE", deploy+"/1", ""), 409, registry.CodeConflict, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state(t)
			h := tt.handler
			if h == nil {
				h = f.dev
			}
			msg := wantError(t, do(t, h, tt.req), tt.status, tt.code)
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
			if after := f.state(t); after != before {
				t.Errorf("the table changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}
