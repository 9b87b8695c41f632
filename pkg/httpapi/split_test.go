package httpapi_test

import (
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestSplitTagsOverHTTP(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	}
	const tag = "/v1/flows/research_agent/tags/live"
	refusals := []struct {
		name, body, reason string
		mention            string // the message must say this, when set
	}{
		{"version and split together are refused", `{"version": 1, "split": {"1": 50, "2": 50}}`, registry.ReasonInvalidSplit, ""},
		{"weights that do not sum to 100 are refused", `{"split": {"1": 50, "2": 40}}`, registry.ReasonInvalidSplit, ""},
		{"a split of one version is refused", `{"split": {"1": 100}}`, registry.ReasonInvalidSplit, ""},
		{"a split asked for as shared is refused", `{"split": {"1": 50, "2": 50}, "exclusive": false}`, registry.ReasonSplitShared, ""},
		{"a version written with a leading zero is refused, not merged with its twin", `{"split": {"01": 50, "1": 50}}`, registry.ReasonInvalidSplit, `"01" is not a version`},
		{"a version written with a sign is refused", `{"split": {"+1": 50, "2": 50}}`, registry.ReasonInvalidSplit, `"+1" is not a version`},
		{"a key that is no number is refused as a version", `{"split": {"x": 50, "2": 50}}`, registry.ReasonInvalidSplit, `"x" is not a version`},
		{"a weight given as a string names the version", `{"split": {"1": "50", "2": 50}}`, registry.ReasonInvalidSplit, `weight of version 1`},
		{"a fractional weight names the version", `{"split": {"1": 50.5, "2": 49.5}}`, registry.ReasonInvalidSplit, `weight of version 1`},
		{"a split that is not an object is refused", `{"split": [1, 2]}`, registry.ReasonInvalidSplit, `like {"3": 90, "4": 10}`},
	}
	for _, c := range refusals {
		t.Run(c.name, func(t *testing.T) {
			resp := do(t, f.dev, request("PUT", tag, c.body))
			wantError(t, resp, 400, registry.CodeInvalidArgument)
			if !strings.Contains(resp.Body, `"reason":"`+c.reason+`"`) {
				t.Fatalf("body %s does not give reason %s", resp.Body, c.reason)
			}
			if msg := decode[api.ErrorBody](t, resp.Body).Error.Message; !strings.Contains(msg, c.mention) {
				t.Errorf("message %q does not say %q", msg, c.mention)
			}
		})
	}
	t.Run("a split without exclusive is exclusive, and resolves by sticky key to one member", func(t *testing.T) {
		got := decode[registry.Tag](t, must(t, f.dev, request("PUT", tag, `{"split": {"1": 30, "3": 70}}`), 200))
		if !got.Exclusive || !got.Split.Equal(registry.Split{1: 30, 3: 70}) {
			t.Fatalf("tag = %+v", got)
		}
		want := registry.Split{1: 30, 3: 70}.Pick(registry.StickyBucket("research_agent", "live", "user-7"))
		for range 5 {
			res := decode[registry.Resolution](t, must(t, f.dev, request("GET", "/v1/flows/research_agent/resolve?tag=live&sticky_key=user-7", ""), 200))
			if res.Deployment.Version != want || res.Route == nil || !res.Route.Split.Equal(got.Split) || res.Selector.StickyKey != "user-7" {
				t.Fatalf("resolution = v%d route %+v selector %+v; want v%d from the split", res.Deployment.Version, res.Route, res.Selector, want)
			}
		}
	})
	t.Run("a sticky key over 255 bytes is refused", func(t *testing.T) {
		wantError(t, do(t, f.dev, request("GET", "/v1/flows/research_agent/resolve?tag=live&sticky_key="+strings.Repeat("k", 256), "")), 400, registry.CodeInvalidArgument)
	})
	t.Run("untagging one member of a split is a conflict naming the reason", func(t *testing.T) {
		resp := do(t, f.dev, request("DELETE", tag+"?version=3", ""))
		wantError(t, resp, 409, registry.CodeConflict)
		if !strings.Contains(resp.Body, `"reason":"`+registry.ReasonTagSplit+`"`) {
			t.Fatalf("body %s", resp.Body)
		}
	})
}
