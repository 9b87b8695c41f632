package registry_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

// TestResultsNeverSendNullForMapsAndLists: the API documents these fields
// as objects and arrays (api/openapi.yaml), and clients validating answers
// against that (MCP output schemas) reject null, so a Go nil goes out empty.
// (Pages and executions are answered in that form by the stores: storetest's
// AnswersHaveTheirWireForm.)
func TestResultsNeverSendNullForMapsAndLists(t *testing.T) {
	for _, c := range []struct {
		name  string
		value any
		want  map[string]string // field → its JSON
	}{
		{"a deployment without tags or inputs sends {} for both", registry.Deployment{},
			map[string]string{"tags": `{}`, "inputs": `{}`}},
		{"a flow summary without tags sends {} and [] for exclusive_tags", registry.FlowSummary{},
			map[string]string{"tags": `{}`, "exclusive_tags": `[]`, "default_version": `null`}},
		{"a flow summary's tag without versions sends []", registry.FlowSummary{Tags: map[string][]int{"stable": nil, "default": {1}}},
			map[string]string{"tags": `{"default":[1],"stable":[]}`}},
		{"a tag without versions sends []", registry.Tag{}, map[string]string{"versions": `[]`}},
		{"an execution whose flow returned None sends result null", registry.Execution{Result: json.RawMessage(`null`)},
			map[string]string{"result": `null`}},
		{"a page sends its items as they are", registry.Page[registry.Tag]{Items: []registry.Tag{{Name: "a", Versions: []int{2}}}},
			map[string]string{"items": `[{"flow":"","tag":"a","exclusive":false,"versions":[2],"revision":0}]`}},
		{"a route change from nowhere sends from null", registry.RouteChange{}, map[string]string{"from": `null`, "to": `null`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := json.Marshal(c.value)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(b, &fields); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k := range c.want {
				got[k] = string(fields[k])
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", b, diff)
			}
		})
	}
}

// TestWireNormalizingKeepsTheEncoding: the values are only filled in, and
// the caller's encoder still decides on HTML escaping.
func TestWireNormalizingKeepsTheEncoding(t *testing.T) {
	d := registry.Deployment{Flow: "f", Tags: map[string]bool{"x": true}, Inputs: json.RawMessage(`{"q":"a<b"}`), Description: "a & b"}
	t.Run("json.Marshal escapes as before", func(t *testing.T) {
		b, _ := json.Marshal(d)
		if !bytes.Contains(b, []byte(`"a \u0026 b"`)) || !bytes.Contains(b, []byte(`"a\u003cb"`)) {
			t.Errorf("got %s", b)
		}
	})
	t.Run("an encoder without HTML escaping sends the text as it is", func(t *testing.T) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(buf.Bytes(), []byte(`"a & b"`)) || !bytes.Contains(buf.Bytes(), []byte(`"a<b"`)) {
			t.Errorf("got %s", buf.Bytes())
		}
	})
	t.Run("the value marshalled is left as it was", func(t *testing.T) {
		var s registry.FlowSummary
		s.Tags = map[string][]int{"stable": nil}
		_, _ = json.Marshal(s)
		if s.Tags["stable"] != nil || s.ExclusiveTags != nil {
			t.Errorf("marshalling changed the value: %+v", s)
		}
	})
	t.Run("a decoded value is the one encoded", func(t *testing.T) {
		want := registry.Deployment{Flow: "f", Version: 2, Tags: map[string]bool{"x": true}, Inputs: json.RawMessage(`{"q":1}`), Stack: "dev"}
		b, _ := json.Marshal(want)
		var got registry.Deployment
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	})
}
