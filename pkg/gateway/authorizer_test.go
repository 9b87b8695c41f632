package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/gateway"
)

// fakeAuthorizer answers with a fixed policy document and counts its calls.
type fakeAuthorizer struct {
	answer string
	err    error
	calls  int
	last   events.APIGatewayCustomAuthorizerRequestTypeRequest
}

func (f *fakeAuthorizer) call(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) ([]byte, error) {
	f.calls++
	f.last = req
	return []byte(f.answer), f.err
}

func answer(statements string) string {
	return `{"principalId": "p", "policyDocument": {"Version": "2012-10-17", "Statement": ` + statements + `}, "context": {"project": "default", "n": 1}}`
}

func request(method, path string, header ...string) *events.APIGatewayProxyRequest {
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	return &events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, MultiValueHeaders: h}
}

func newAuthorizer(f *fakeAuthorizer, ttl time.Duration, now func() time.Time) *gateway.Authorizer {
	return &gateway.Authorizer{
		Call: f.call, IdentityHeaders: []string{"Authorization", "X-Kitaru-Project"}, TTL: ttl,
		Region: "us-east-1", AccountID: "123456789012", APIID: "api", Stage: "prod", Now: now,
	}
}

func refusalType(err error) gateway.ResponseType {
	var r *gateway.Refusal
	if errors.As(err, &r) {
		return r.Type
	}
	return ""
}

func TestPoliciesAreEvaluatedAsAPIGatewayDoes(t *testing.T) {
	tests := []struct {
		name, statements string
		allowed          bool
	}{
		{"a stage wildcard allows", `[{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:api/prod/*/*"}]`, true},
		{"a list of actions and resources allows", `[{"Effect": "Allow", "Action": ["execute-api:Invoke"], "Resource": ["arn:aws:execute-api:us-east-1:123456789012:api/prod/GET/v1/*"]}]`, true},
		{"another stage does not allow", `[{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:api/dev/*/*"}]`, false},
		{"an explicit deny wins over an allow", `[{"Effect": "Allow", "Action": "*", "Resource": "*"}, {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*"}]`, false},
		{"another action does not allow", `[{"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": "*"}]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAuthorizer{answer: answer(tt.statements)}
			got, err := newAuthorizer(f, 0, nil).Authorize(context.Background(), request("GET", "/v1/flows", "Authorization", "Bearer k", "X-Kitaru-Project", "default"))
			switch {
			case tt.allowed && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.allowed && (got["principalId"] != "p" || got["project"] != "default" || got["n"] != "1"):
				t.Errorf("context %v; want the answer's, as strings, with principalId", got)
			case !tt.allowed && refusalType(err) != gateway.AccessDenied:
				t.Errorf("err %v; want an ACCESS_DENIED refusal", err)
			}
		})
	}
	t.Run("the authorizer is asked about the method's ARN", func(t *testing.T) {
		f := &fakeAuthorizer{answer: answer(`[{"Effect": "Allow", "Action": "*", "Resource": "*"}]`)}
		if _, err := newAuthorizer(f, 0, nil).Authorize(context.Background(), request("PUT", "/v1/flows/a/tags/b", "Authorization", "Bearer k", "X-Kitaru-Project", "default")); err != nil {
			t.Fatal(err)
		}
		if want := "arn:aws:execute-api:us-east-1:123456789012:api/prod/PUT/v1/flows/a/tags/b"; f.last.MethodArn != want || f.last.Type != "REQUEST" {
			t.Errorf("method ARN %q type %q; want %q REQUEST", f.last.MethodArn, f.last.Type, want)
		}
	})
}

func TestAnswersAreCachedByIdentityWithinTheTTL(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	allow := answer(`[{"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:api/prod/*/*"}]`)
	deny := answer(`[{"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:us-east-1:123456789012:api/prod/*/*"}]`)
	ctx := context.Background()
	alice := func(path string) *events.APIGatewayProxyRequest {
		return request("GET", path, "Authorization", "Bearer alice", "X-Kitaru-Project", "default")
	}

	t.Run("an allow is reused for every route until the TTL passes", func(t *testing.T) {
		f := &fakeAuthorizer{answer: allow}
		a := newAuthorizer(f, time.Minute, clock)
		for _, path := range []string{"/v1/flows", "/v1/stacks", "/v1/flows/a"} {
			if _, err := a.Authorize(ctx, alice(path)); err != nil {
				t.Fatal(err)
			}
		}
		if f.calls != 1 {
			t.Fatalf("%d calls for three requests within the TTL; want 1", f.calls)
		}
		now = now.Add(time.Minute + time.Second)
		if _, err := a.Authorize(ctx, alice("/v1/flows")); err != nil || f.calls != 2 {
			t.Errorf("after the TTL: err %v, %d calls; want a second call", err, f.calls)
		}
	})
	t.Run("other identity values are not served from the cache", func(t *testing.T) {
		f := &fakeAuthorizer{answer: allow}
		a := newAuthorizer(f, time.Minute, clock)
		for _, r := range []*events.APIGatewayProxyRequest{alice("/v1/flows"),
			request("GET", "/v1/flows", "Authorization", "Bearer bob", "X-Kitaru-Project", "default"),
			request("GET", "/v1/flows", "Authorization", "Bearer alice", "X-Kitaru-Project", "other")} {
			if _, err := a.Authorize(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		if f.calls != 3 {
			t.Errorf("%d calls for three identities; want 3", f.calls)
		}
	})
	t.Run("a deny is cached too", func(t *testing.T) {
		f := &fakeAuthorizer{answer: deny}
		a := newAuthorizer(f, time.Minute, clock)
		for range 2 {
			if _, err := a.Authorize(ctx, alice("/v1/flows")); refusalType(err) != gateway.AccessDenied {
				t.Fatalf("err %v; want ACCESS_DENIED", err)
			}
		}
		if f.calls != 1 {
			t.Errorf("%d calls; want the deny reused", f.calls)
		}
	})
	t.Run("Unauthorized is never cached and keeps its cause", func(t *testing.T) {
		cause := fmt.Errorf("%w: the key is revoked", gateway.ErrUnauthorized)
		f := &fakeAuthorizer{err: cause}
		a := newAuthorizer(f, time.Minute, clock)
		for range 2 {
			_, err := a.Authorize(ctx, alice("/v1/flows"))
			if refusalType(err) != gateway.Unauthorized || !errors.Is(err, cause) {
				t.Fatalf("err %v; want UNAUTHORIZED wrapping the authorizer's error", err)
			}
		}
		if f.calls != 2 {
			t.Errorf("%d calls; want every Unauthorized asked again", f.calls)
		}
	})
	t.Run("a TTL of 0 asks every time", func(t *testing.T) {
		f := &fakeAuthorizer{answer: allow}
		a := newAuthorizer(f, 0, clock)
		for range 2 {
			if _, err := a.Authorize(ctx, alice("/v1/flows")); err != nil {
				t.Fatal(err)
			}
		}
		if f.calls != 2 {
			t.Errorf("%d calls; want 2", f.calls)
		}
	})
}

func TestIdentitySourcesAndMalformedAnswers(t *testing.T) {
	ctx := context.Background()
	allow := answer(`[{"Effect": "Allow", "Action": "*", "Resource": "*"}]`)
	t.Run("a missing identity source is refused without a call", func(t *testing.T) {
		f := &fakeAuthorizer{answer: allow}
		_, err := newAuthorizer(f, 0, nil).Authorize(ctx, request("GET", "/v1/flows", "Authorization", "Bearer k"))
		if refusalType(err) != gateway.Unauthorized || f.calls != 0 {
			t.Errorf("err %v after %d calls; want UNAUTHORIZED and no call", err, f.calls)
		}
	})
	t.Run("with optional identity the authorizer is asked anyway", func(t *testing.T) {
		f := &fakeAuthorizer{answer: allow}
		a := newAuthorizer(f, 0, nil)
		a.OptionalIdentity = true
		if _, err := a.Authorize(ctx, request("GET", "/v1/flows")); err != nil || f.calls != 1 {
			t.Errorf("err %v after %d calls; want the authorizer's answer", err, f.calls)
		}
	})
	for _, tt := range []struct{ name, answer string }{
		{"an answer without a principal is a failure", `{"policyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}`},
		{"an answer that is not JSON is a failure", `nope`},
		{"a context value that is an object is a failure", `{"principalId": "p", "policyDocument": {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, "context": {"x": {}}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newAuthorizer(&fakeAuthorizer{answer: tt.answer}, 0, nil).Authorize(ctx, request("GET", "/v1/flows", "Authorization", "Bearer k", "X-Kitaru-Project", "default"))
			if refusalType(err) != gateway.AuthorizerFailure {
				t.Errorf("err %v; want AUTHORIZER_FAILURE", err)
			}
		})
	}
	t.Run("a failed call is a failure", func(t *testing.T) {
		_, err := newAuthorizer(&fakeAuthorizer{err: errors.New("boom")}, 0, nil).Authorize(ctx, request("GET", "/v1/flows", "Authorization", "Bearer k", "X-Kitaru-Project", "default"))
		if refusalType(err) != gateway.AuthorizerFailure {
			t.Errorf("err %v; want AUTHORIZER_FAILURE", err)
		}
	})
}
