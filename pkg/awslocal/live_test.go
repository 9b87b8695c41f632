package awslocal_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/awslocal"
	"github.com/kitaru/deployments/pkg/httpapi"
)

// liveStack reads the stack scripts/aws-local.sh started (make aws-local-e2e
// runs these tests against it; a plain go test skips them).
func liveStack(t testing.TB) (awslocal.State, string) {
	t.Helper()
	path := os.Getenv("AWS_LOCAL_STATE")
	if path == "" {
		t.Skip("needs the stack on the emulators: run make aws-local-e2e")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st awslocal.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	key := os.Getenv("AWS_LOCAL_API_KEY")
	if key == "" {
		t.Fatal("AWS_LOCAL_API_KEY is not set")
	}
	return st, key
}

type envelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func call(t *testing.T, method, url string, header map[string]string) (int, envelope) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var env envelope
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatalf("%s %s: %d with a body that is not the error envelope: %s", method, url, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, env
}

// authorizerCalls counts the authorizer's decisions in its log; -1 when the
// stack is not aws-local's (localstack/kit.sh runs the gateway tests with
// only a URL).
func authorizerCalls(t *testing.T, st awslocal.State) int {
	t.Helper()
	if st.RIE.LogDir == "" {
		return -1
	}
	b, err := os.ReadFile(filepath.Join(st.RIE.LogDir, "AuthorizerFunction"+logicalSuffix(st, "AuthorizerFunction")+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), `"msg":"authorize"`)
}

func logicalSuffix(st awslocal.State, prefix string) string {
	for id := range st.Functions {
		if rest, ok := strings.CutPrefix(id, prefix); ok {
			return rest
		}
	}
	return ""
}

func function(t *testing.T, st awslocal.State, prefix string) awslocal.FunctionState {
	t.Helper()
	f, ok := st.Functions[prefix+logicalSuffix(st, prefix)]
	if !ok {
		t.Fatalf("no function %s… in the stack", prefix)
	}
	return f
}

func TestLiveGatewayFailsClosed(t *testing.T) {
	st, key := liveStack(t)
	status := st.URL + "/v1/status"
	tests := []struct {
		name            string
		header          map[string]string
		status          int
		code            string
		callsAuthorizer bool
	}{
		{"no credentials are 401 without calling the authorizer", nil, 401, "unauthenticated", false},
		{"a key without X-Kitaru-Project is 401 without calling the authorizer", map[string]string{"Authorization": "Bearer " + key}, 401, "unauthenticated", false},
		{"X-Kitaru-Project without a key is 401 without calling the authorizer", map[string]string{"X-Kitaru-Project": "e2e"}, 401, "unauthenticated", false},
		{"a garbage bearer is 401 from the authorizer", map[string]string{"Authorization": "Bearer garbage", "X-Kitaru-Project": "e2e"}, 401, "unauthenticated", true},
		{"a key used for another project is 403 from the authorizer's Deny", map[string]string{"Authorization": "Bearer " + key, "X-Kitaru-Project": "other"}, 403, "permission_denied", true},
		{"the key with its project is served", map[string]string{"Authorization": "Bearer " + key, "X-Kitaru-Project": "e2e"}, 200, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := authorizerCalls(t, st)
			got, env := call(t, "GET", status, tt.header)
			after := authorizerCalls(t, st)
			if got != tt.status || env.Error.Code != tt.code {
				t.Fatalf("answered %d %q (%s); want %d %q", got, env.Error.Code, env.Error.Message, tt.status, tt.code)
			}
			if got == 401 && env.Error.Message != httpapi.MissingIdentityMessage {
				t.Errorf("message %q; want %q, as a handler verifying bearers answers", env.Error.Message, httpapi.MissingIdentityMessage)
			}
			switch called := after > before; {
			case before < 0: // no authorizer log to read
			case tt.callsAuthorizer && !called:
				t.Errorf("the authorizer was not called")
			case !tt.callsAuthorizer && called:
				t.Errorf("the authorizer was called")
			}
		})
	}
	t.Run("a second call with the same identity sources is answered from the authorizer cache", func(t *testing.T) {
		if authorizerCalls(t, st) < 0 {
			t.Skip("needs aws-local's authorizer log")
		}
		header := map[string]string{"Authorization": "Bearer " + key, "X-Kitaru-Project": "e2e"}
		call(t, "GET", status, header)
		before := authorizerCalls(t, st)
		if got, _ := call(t, "GET", st.URL+"/v1/flows", header); got != 200 {
			t.Fatalf("answered %d", got)
		}
		if authorizerCalls(t, st) != before {
			t.Errorf("the authorizer was called again within its TTL")
		}
	})
	t.Run("an unknown route is the template's 404 envelope", func(t *testing.T) {
		if st.RIE.LogDir == "" {
			t.Skip("LocalStack's gateway responses are not known to follow the template")
		}
		if got, env := call(t, "GET", st.URL+"/v1/nowhere", nil); got != 404 || env.Error.Code != "not_found" {
			t.Errorf("answered %d %q", got, env.Error.Code)
		}
	})
}

// proxyEvent is a GET /v1/flows as API Gateway passes it to the handler.
func proxyEvent(authorizer map[string]any, header map[string]string) []byte {
	ev := events.APIGatewayProxyRequest{
		Resource: "/v1/flows", Path: "/v1/flows", HTTPMethod: "GET",
		Headers: header, MultiValueHeaders: map[string][]string{},
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "live-test", Stage: "api", Authorizer: authorizer},
	}
	for k, v := range header {
		ev.MultiValueHeaders[k] = []string{v}
	}
	b, _ := json.Marshal(ev)
	return b
}

func invokeProxy(t *testing.T, in *awslocal.Instance, payload []byte) (int, envelope) {
	t.Helper()
	answer, err := in.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(answer, &resp); err != nil {
		t.Fatalf("not a proxy response: %s", answer)
	}
	var env envelope
	_ = json.Unmarshal([]byte(resp.Body), &env)
	return resp.StatusCode, env
}

// startVariant runs another copy of a deployed function under RIE with
// extra environment (the LocalStack configuration, say).
func startVariant(t *testing.T, st awslocal.State, f awslocal.FunctionState, env map[string]string) *awslocal.Instance {
	t.Helper()
	rie := st.RIE
	rie.LogDir = t.TempDir()
	fn := f.Function
	fn.Env = maps.Clone(fn.Env)
	maps.Copy(fn.Env, env)
	in, err := rie.Start(&fn, st.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	return in
}

func TestLiveHandlersRefuseAPartialAuthorizerContext(t *testing.T) {
	st, _ := liveStack(t)
	resolve := startVariant(t, st, function(t, st, "ResolveFunction"), nil)
	full := map[string]any{"project": "e2e", "role": "producer", "principal_id": "k1", "credential": "api_key", "principalId": "k1"}
	if got, env := invokeProxy(t, resolve, proxyEvent(full, nil)); got != 200 {
		t.Fatalf("the full context answered %d %s", got, env.Error.Message)
	}
	for _, key := range []string{"project", "role", "principal_id", "credential"} {
		t.Run("a context without "+key+" is 401", func(t *testing.T) {
			ctx := maps.Clone(full)
			delete(ctx, key)
			if got, env := invokeProxy(t, resolve, proxyEvent(ctx, nil)); got != 401 || env.Error.Code != "unauthenticated" {
				t.Errorf("answered %d %q", got, env.Error.Code)
			}
		})
	}
	t.Run("no context at all is 401", func(t *testing.T) {
		if got, env := invokeProxy(t, resolve, proxyEvent(nil, nil)); got != 401 || env.Error.Code != "unauthenticated" {
			t.Errorf("answered %d %q", got, env.Error.Code)
		}
	})
}

func TestLiveHandlersVerifyingBearersRequireBothIdentitySources(t *testing.T) {
	st, key := liveStack(t)
	// What LocalStackProps sets on the API functions.
	resolve := startVariant(t, st, function(t, st, "ResolveFunction"), map[string]string{
		"KITARU_VERIFY_BEARER": "true", "KITARU_SIGNING_SECRET_ARN": st.SecretARN,
	})
	tests := []struct {
		name   string
		header map[string]string
		status int
	}{
		{"the key and its project are served", map[string]string{"Authorization": "Bearer " + key, "X-Kitaru-Project": "e2e"}, 200},
		{"the key without X-Kitaru-Project is the gateway's 401", map[string]string{"Authorization": "Bearer " + key}, 401},
		{"no credentials are the gateway's 401", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, env := invokeProxy(t, resolve, proxyEvent(nil, tt.header))
			if got != tt.status {
				t.Fatalf("answered %d %q", got, env.Error.Message)
			}
			if got == 401 && env.Error.Message != httpapi.MissingIdentityMessage {
				t.Errorf("message %q; want the gateway's %q", env.Error.Message, httpapi.MissingIdentityMessage)
			}
		})
	}
}
