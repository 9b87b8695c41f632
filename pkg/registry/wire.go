package registry

import (
	"bytes"
	"encoding/json"
)

// The API's results never carry null for a map or a list: api/openapi.yaml
// documents those fields as objects and arrays, and clients that check
// answers against it (MCP output schemas) reject null. The MarshalJSON
// methods below send a Go nil as {} or [] in every encoding (the HTTP API,
// the MCP tools, the CLI's --json) for the small values that handlers and
// stores build in many places.
//
// Pages and executions have none: a MarshalJSON encodes its value twice
// (and once more per enclosing one), which made a page of executions three
// times slower to encode (BenchmarkEncodeExecutionsPage). Stores answer
// them in their wire form instead (items never nil, inputs always an
// object); the conformance suite's AnswersHaveTheirWireForm holds every
// store to it.

// MarshalJSON sends a deployment without tags or inputs with {} for them.
func (d Deployment) MarshalJSON() ([]byte, error) {
	type plain Deployment
	if d.Tags == nil {
		d.Tags = map[string]bool{}
	}
	if len(d.Inputs) == 0 {
		d.Inputs = json.RawMessage(`{}`)
	}
	return marshalPlain(plain(d))
}

// MarshalJSON sends a flow summary's missing tags as {}, exclusive tags as
// [] and a tag without versions as [].
func (s FlowSummary) MarshalJSON() ([]byte, error) {
	type plain FlowSummary
	if s.ExclusiveTags == nil {
		s.ExclusiveTags = []string{}
	}
	tags := make(map[string][]int, len(s.Tags))
	for name, versions := range s.Tags {
		if versions == nil {
			versions = []int{}
		}
		tags[name] = versions
	}
	s.Tags = tags // a copy: the caller's map is left as it was
	return marshalPlain(plain(s))
}

// MarshalJSON sends a tag without versions with versions [].
func (t Tag) MarshalJSON() ([]byte, error) {
	type plain Tag
	if t.Versions == nil {
		t.Versions = []int{}
	}
	return marshalPlain(plain(t))
}

// marshalPlain encodes v without HTML escaping: the encoder that called
// MarshalJSON escapes the result or not as it was told to.
func marshalPlain(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
