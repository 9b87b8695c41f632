package gateway

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"
)

func TestProxyRequestIsTheEventAPIGatewaySends(t *testing.T) {
	r := httptest.NewRequest("PUT", "http://127.0.0.1:8787/v1/flows/a/tags/stable?x=1&x=2", strings.NewReader(`{"version": 1}`))
	r.Header.Add("X-Many", "one")
	r.Header.Add("X-Many", "two")
	ev := ProxyRequest(r, r.URL.Path, []byte(`{"version": 1}`), "req-9", "dev")

	t.Run("path, method and body pass as text", func(t *testing.T) {
		if ev.Path != "/v1/flows/a/tags/stable" || ev.HTTPMethod != "PUT" || ev.Body != `{"version": 1}` || ev.IsBase64Encoded {
			t.Errorf("event %+v", ev)
		}
	})
	t.Run("multi-value headers and query keep every value, single-value ones the last", func(t *testing.T) {
		if got := ev.MultiValueHeaders["X-Many"]; !cmp.Equal(got, []string{"one", "two"}) || ev.Headers["X-Many"] != "two" {
			t.Errorf("headers %v / %v", ev.Headers, ev.MultiValueHeaders)
		}
		if got := ev.MultiValueQueryStringParameters["x"]; !cmp.Equal(got, []string{"1", "2"}) || ev.QueryStringParameters["x"] != "2" {
			t.Errorf("query %v / %v", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
		}
	})
	t.Run("the request context carries the id, stage and caller", func(t *testing.T) {
		rc := ev.RequestContext
		if rc.RequestID != "req-9" || rc.Stage != "dev" || rc.HTTPMethod != "PUT" || rc.Identity.SourceIP != "192.0.2.1" {
			t.Errorf("request context %+v", rc)
		}
	})
	t.Run("a binary body is passed base64-encoded", func(t *testing.T) {
		bin := ProxyRequest(r, r.URL.Path, []byte{0xff, 0xfe}, "req-10", "dev")
		if !bin.IsBase64Encoded || bin.Body != "//4=" {
			t.Errorf("body %q base64 %v", bin.Body, bin.IsBase64Encoded)
		}
	})
}

// recordingBackend matches one resource, allows callers that send a bearer
// and records the event its integration gets.
type recordingBackend struct{ got events.APIGatewayProxyRequest }

func (b *recordingBackend) Match(method, path string) (Route, bool) {
	flow, ok := strings.CutPrefix(path, "/v1/flows/")
	if method != "GET" || !ok || strings.Contains(flow, "/") {
		return Route{}, false
	}
	return Route{Resource: "/v1/flows/{flow}", PathParameters: map[string]string{"flow": flow}}, true
}

func (b *recordingBackend) Authorize(_ context.Context, _ Route, ev *events.APIGatewayProxyRequest) (map[string]any, error) {
	if ev.Headers["Authorization"] == "" {
		return nil, Refuse(Unauthorized, "no bearer")
	}
	return map[string]any{"project": "p"}, nil
}

func (b *recordingBackend) Integrate(_ context.Context, _ Route, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	b.got = ev
	return events.APIGatewayProxyResponse{StatusCode: 200, Body: "ok"}, nil
}

func (b *recordingBackend) Respond(err error, _ string) events.APIGatewayProxyResponse {
	var refusal *Refusal
	if errors.As(err, &refusal) {
		return events.APIGatewayProxyResponse{StatusCode: 499, Body: string(refusal.Type)}
	}
	return events.APIGatewayProxyResponse{StatusCode: 500, Body: err.Error()}
}

func TestTheGatewayMatchesAuthorizesAndIntegratesInThatOrder(t *testing.T) {
	b := &recordingBackend{}
	g := &Gateway{Backend: b, Stage: "api", StageInPath: true, MaxBodyBytes: 8}
	serve := func(method, target, body string, header map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		for k, v := range header {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		return w
	}
	bearer := map[string]string{"Authorization": "Bearer x"}
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
		answer                     string
	}{
		{"a matched, authorized request reaches the integration", "GET", "/api/v1/flows/a", "", bearer, 200, "ok"},
		{"a path outside the stage is a missing route", "GET", "/v1/flows/a", "", bearer, 499, string(MissingAuthenticationToken)},
		{"a stage prefix that is only a prefix of a segment is a missing route", "GET", "/apix/v1/flows/a", "", bearer, 499, string(MissingAuthenticationToken)},
		{"an unmatched method is a missing route before authorization", "POST", "/api/v1/flows/a", "", nil, 499, string(MissingAuthenticationToken)},
		{"a body over the limit is refused before authorization", "GET", "/api/v1/flows/a", "123456789", nil, 499, string(RequestTooLarge)},
		{"an unauthorized request never reaches the integration", "GET", "/api/v1/flows/b", "", nil, 499, string(Unauthorized)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.got = events.APIGatewayProxyRequest{}
			w := serve(tt.method, tt.target, tt.body, tt.header)
			if w.Code != tt.status || w.Body.String() != tt.answer {
				t.Fatalf("answered %d %q; want %d %q", w.Code, w.Body.String(), tt.status, tt.answer)
			}
			if reached := b.got.HTTPMethod != ""; reached != (tt.status == 200) {
				t.Errorf("integration reached: %v", reached)
			}
		})
	}
	t.Run("the integration gets the path below the stage, the resource and the authorizer context", func(t *testing.T) {
		serve("GET", "/api/v1/flows/a", "", bearer)
		ev := b.got
		if ev.Path != "/v1/flows/a" || ev.RequestContext.Path != "/api/v1/flows/a" || ev.Resource != "/v1/flows/{flow}" || ev.RequestContext.ResourcePath != ev.Resource {
			t.Errorf("path %q, context path %q, resource %q / %q", ev.Path, ev.RequestContext.Path, ev.Resource, ev.RequestContext.ResourcePath)
		}
		if diff := cmp.Diff(map[string]string{"flow": "a"}, ev.PathParameters); diff != "" {
			t.Errorf("path parameters (-want +got):\n%s", diff)
		}
		if ev.RequestContext.Authorizer["project"] != "p" || ev.RequestContext.Stage != "api" {
			t.Errorf("request context %+v", ev.RequestContext)
		}
	})
}
