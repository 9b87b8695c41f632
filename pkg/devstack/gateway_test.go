package devstack

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProxyRequestIsTheEventAPIGatewaySends(t *testing.T) {
	r := httptest.NewRequest("PUT", "http://127.0.0.1:8787/v1/flows/a/tags/stable?x=1&x=2", strings.NewReader(`{"version": 1}`))
	r.Header.Add("X-Many", "one")
	r.Header.Add("X-Many", "two")
	ev := proxyRequest(r, []byte(`{"version": 1}`), "req-9")

	t.Run("path, method and body pass as text", func(t *testing.T) {
		if ev.Path != "/v1/flows/a/tags/stable" || ev.HTTPMethod != "PUT" || ev.Body != `{"version": 1}` || ev.IsBase64Encoded {
			t.Errorf("event %+v", ev)
		}
	})
	t.Run("the matched resource and its path parameters are set", func(t *testing.T) {
		if ev.Resource != "/v1/flows/{flow}/tags/{tag}" || ev.RequestContext.ResourcePath != ev.Resource {
			t.Errorf("resource %q, resource path %q", ev.Resource, ev.RequestContext.ResourcePath)
		}
		if diff := cmp.Diff(map[string]string{"flow": "a", "tag": "stable"}, ev.PathParameters); diff != "" {
			t.Errorf("path parameters (-want +got):\n%s", diff)
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
		bin := proxyRequest(r, []byte{0xff, 0xfe}, "req-10")
		if !bin.IsBase64Encoded || bin.Body != "//4=" {
			t.Errorf("body %q base64 %v", bin.Body, bin.IsBase64Encoded)
		}
	})
}
