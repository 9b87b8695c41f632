package httpapi_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestATagIsReadWithTheRevisionIfMatchTakes(t *testing.T) {
	f := newFixture(t)
	for range 2 {
		must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	}
	const stable = "/v1/flows/research_agent/tags/stable"
	must(t, f.dev, request("PUT", stable, `{"version": 1, "exclusive": true}`), 200)
	put := decode[registry.Tag](t, must(t, f.dev, request("PUT", stable, `{"version": 2, "exclusive": true}`), 200))

	t.Run("GET answers the tag as committed, its revision in ETag", func(t *testing.T) {
		resp := do(t, f.dev, request("GET", stable, ""))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		if got := decode[registry.Tag](t, resp.Body); !slices.Equal(got.Versions, []int{2}) || !got.Exclusive || got.Revision != put.Revision {
			t.Errorf("tag %+v, want what the PUT committed: %+v", got, put)
		}
		if want := `"` + strconv.FormatInt(put.Revision, 10) + `"`; resp.Headers["ETag"] != want {
			t.Errorf("ETag %q, want %q", resp.Headers["ETag"], want)
		}
	})
	t.Run("the ETag works as If-Match, once", func(t *testing.T) {
		tag := do(t, f.dev, request("GET", stable, "")).Headers["ETag"]
		must(t, f.dev, withHeader(request("PUT", stable, `{"version": 1, "exclusive": true}`), "If-Match", tag), 200)
		resp := do(t, f.dev, withHeader(request("PUT", stable, `{"version": 2, "exclusive": true}`), "If-Match", tag))
		wantError(t, resp, 412, registry.CodePreconditionFailed)
	})
	t.Run("resolve by tag answers the route's ETag", func(t *testing.T) {
		want := do(t, f.dev, request("GET", stable, "")).Headers["ETag"]
		resp := do(t, f.dev, request("GET", "/v1/flows/research_agent/resolve?tag=stable", ""))
		if resp.StatusCode != 200 || resp.Headers["ETag"] != want || want == "" {
			t.Fatalf("status %d, ETag %q; want 200 and %q", resp.StatusCode, resp.Headers["ETag"], want)
		}
		must(t, f.dev, withHeader(request("PUT", stable, `{"version": 2, "exclusive": true}`), "If-Match", resp.Headers["ETag"]), 200)
	})
	t.Run("resolve with no selector answers default's ETag", func(t *testing.T) {
		want := do(t, f.dev, request("GET", "/v1/flows/research_agent/tags/default", "")).Headers["ETag"]
		if got := do(t, f.dev, request("GET", "/v1/flows/research_agent/resolve", "")).Headers["ETag"]; got != want || got == "" {
			t.Errorf("ETag %q, want default's %q", got, want)
		}
	})
	t.Run("resolve by version answers no ETag: no route was read", func(t *testing.T) {
		resp := do(t, f.dev, request("GET", "/v1/flows/research_agent/resolve?version=1", ""))
		if _, ok := resp.Headers["ETag"]; resp.StatusCode != 200 || ok {
			t.Errorf("status %d, headers %v", resp.StatusCode, resp.Headers)
		}
	})
	t.Run("a shared tag on two versions is read, resolving it is a surface-neutral conflict", func(t *testing.T) {
		for _, v := range []string{"1", "2"} {
			must(t, f.dev, request("PUT", "/v1/flows/research_agent/tags/bench", `{"version": `+v+`}`), 200)
		}
		got := decode[registry.Tag](t, must(t, f.dev, request("GET", "/v1/flows/research_agent/tags/bench", ""), 200))
		if got.Exclusive || !slices.Equal(got.Versions, []int{1, 2}) {
			t.Errorf("bench = %+v", got)
		}
		msg := wantError(t, do(t, f.dev, request("GET", "/v1/flows/research_agent/resolve?tag=bench", "")), 409, registry.CodeConflict)
		if strings.Contains(msg, "--version") || !strings.Contains(msg, "versions 1 and 2") {
			t.Errorf("an HTTP message names a CLI flag or lists the versions badly: %q", msg)
		}
	})
	t.Run("an unknown tag and an unknown flow are 404", func(t *testing.T) {
		wantError(t, do(t, f.dev, request("GET", "/v1/flows/research_agent/tags/prod", "")), 404, registry.CodeNotFound)
		wantError(t, do(t, f.dev, request("GET", "/v1/flows/nope/tags/stable", "")), 404, registry.CodeNotFound)
	})
	t.Run("a consumer may read a tag", func(t *testing.T) {
		must(t, f.dev, as(request("GET", stable, ""), "default", "consumer", "reader"), 200)
	})
	t.Run("the read is served by the resolve function, the writes by the tag function", func(t *testing.T) {
		resolveFn := f.handler(httpapi.Config{Groups: []httpapi.Group{httpapi.GroupResolve}})
		tagFn := f.handler(httpapi.Config{Groups: []httpapi.Group{httpapi.GroupTag}})
		must(t, resolveFn, request("GET", stable, ""), 200)
		if resp := do(t, tagFn, request("GET", stable, "")); resp.StatusCode != 405 {
			t.Errorf("the tag function answered GET with %d, want 405", resp.StatusCode)
		}
	})
}
