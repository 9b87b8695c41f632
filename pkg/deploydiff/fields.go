package deploydiff

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// Side is one deployment of a diff and the ref that named it.
type Side struct {
	Ref        string
	Tag        string         // the tag Ref named, if it named one
	Split      registry.Split // that tag's split when it is split: Deployment is the member picked
	Deployment registry.Deployment
}

// Compare diffs everything of two deployments but their bundles' files:
// fields, input schema, deploy-time inputs and secrets. Source is left
// empty, with SameBundle set when both name one bundle; Identical is true
// when nothing differs.
func Compare(flow string, from, to Side) api.DeploymentDiff {
	a, b := from.Deployment, to.Deployment
	diff := api.DeploymentDiff{
		Flow: flow, From: sideOf(from), To: sideOf(to),
		Fields:      fieldChanges(a, b),
		InputSchema: compareSchemas(a.InputSchema, b.InputSchema),
		Inputs:      compareInputs(a.Inputs, b.Inputs),
		Secrets:     compareSecrets(a.Secrets, b.Secrets),
		Source:      api.SourceDiff{SameBundle: digestOf(a) == digestOf(b), Files: []api.FileChange{}},
	}
	diff.Identical = len(diff.Fields) == 0 && len(diff.InputSchema.Parameters) == 0 && !diff.InputSchema.OtherChanged &&
		diff.InputSchema.FromDeclared == diff.InputSchema.ToDeclared && len(diff.Inputs) == 0 &&
		len(diff.Secrets.Added)+len(diff.Secrets.Removed) == 0
	return diff
}

func sideOf(s Side) api.DiffSide {
	return api.DiffSide{Ref: s.Ref, Tag: s.Tag, Split: s.Split.Clone(), Version: s.Deployment.Version, CreatedAt: s.Deployment.CreatedAt, CreatedBy: s.Deployment.CreatedBy}
}

// fieldChanges lists the scalar fields that differ, in a fixed order.
func fieldChanges(a, b registry.Deployment) []api.FieldChange {
	source := func(d registry.Deployment) registry.Source {
		if d.Source == nil {
			return registry.Source{}
		}
		return *d.Source
	}
	sa, sb := source(a), source(b)
	changes := []api.FieldChange{}
	text := func(field, from, to string) {
		if from != to {
			changes = append(changes, api.FieldChange{Field: field, Before: from, After: to})
		}
	}
	text("entrypoint", a.Entrypoint, b.Entrypoint)
	text("stack", a.Stack, b.Stack)
	text("description", a.Description, b.Description)
	text("source.digest", sa.Digest, sb.Digest)
	text("source.commit", sa.Commit, sb.Commit)
	if sa.Dirty != sb.Dirty {
		changes = append(changes, api.FieldChange{Field: "source.dirty", Before: sa.Dirty, After: sb.Dirty})
	}
	return changes
}

// schema is the part of an input schema a diff compares.
type schema struct {
	declared   bool
	properties map[string]json.RawMessage
	required   map[string]bool
	other      map[string]any // every other keyword, decoded
}

func parseSchema(raw json.RawMessage) schema {
	s := schema{properties: map[string]json.RawMessage{}, required: map[string]bool{}, other: map[string]any{}}
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return s
	}
	s.declared = true
	var top map[string]json.RawMessage
	if json.Unmarshal(t, &top) != nil {
		// A stored schema compiled at deploy; one that is not an object is
		// compared as a whole.
		s.other[""] = decode(t)
		return s
	}
	for k, v := range top {
		switch k {
		case "properties":
			if json.Unmarshal(v, &s.properties) != nil {
				s.other[k] = decode(v)
			}
		case "required":
			var names []string
			if json.Unmarshal(v, &names) != nil {
				s.other[k] = decode(v)
			}
			for _, n := range names {
				s.required[n] = true
			}
		default:
			s.other[k] = decode(v)
		}
	}
	return s
}

func decode(raw json.RawMessage) any {
	var v any
	_ = json.Unmarshal(raw, &v) // stored JSON; a value that does not decode compares as nil
	return v
}

// compareSchemas diffs two input schemas parameter by parameter.
func compareSchemas(from, to json.RawMessage) api.SchemaDiff {
	a, b := parseSchema(from), parseSchema(to)
	diff := api.SchemaDiff{FromDeclared: a.declared, ToDeclared: b.declared, Parameters: []api.ParameterChange{}}
	diff.OtherChanged = !reflect.DeepEqual(a.other, b.other)
	for _, name := range unionKeys(a.properties, b.properties) {
		pa, inA := a.properties[name]
		pb, inB := b.properties[name]
		switch {
		case !inA:
			diff.Parameters = append(diff.Parameters, api.ParameterChange{Name: name, Change: api.ChangeAdded, To: parameter(pb, b.required[name])})
		case !inB:
			diff.Parameters = append(diff.Parameters, api.ParameterChange{Name: name, Change: api.ChangeRemoved, From: parameter(pa, a.required[name])})
		default:
			if aspects := parameterAspects(pa, pb, a.required[name], b.required[name]); len(aspects) > 0 {
				diff.Parameters = append(diff.Parameters, api.ParameterChange{
					Name: name, Change: api.ChangeModified, Aspects: aspects,
					From: parameter(pa, a.required[name]), To: parameter(pb, b.required[name]),
				})
			}
		}
	}
	// A required name with no property still changes what callers must pass.
	for _, name := range requiredOnly(a, b) {
		diff.Parameters = append(diff.Parameters, api.ParameterChange{
			Name: name, Change: api.ChangeModified, Aspects: []string{"required"},
			From: &api.Parameter{Required: a.required[name]}, To: &api.Parameter{Required: b.required[name]},
		})
	}
	return diff
}

// requiredOnly lists the names required by one schema only, without a
// property in either.
func requiredOnly(a, b schema) []string {
	var names []string
	for _, s := range []schema{a, b} {
		for n := range s.required {
			_, inA := a.properties[n]
			_, inB := b.properties[n]
			if !inA && !inB && a.required[n] != b.required[n] && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names
}

// property is the keywords of a property schema a diff names.
type property struct {
	typ        string
	hasDefault bool
	def        any
	defRaw     json.RawMessage
	rest       map[string]any
}

func parseProperty(raw json.RawMessage) property {
	var kw map[string]json.RawMessage
	if json.Unmarshal(raw, &kw) != nil {
		return property{rest: map[string]any{"": decode(raw)}}
	}
	p := property{typ: typeOf(kw), rest: map[string]any{}}
	for k, v := range kw {
		switch {
		case k == "type" && p.typ != "":
		case k == "default":
			p.hasDefault, p.def, p.defRaw = true, decode(v), compact(v)
		default:
			p.rest[k] = decode(v)
		}
	}
	return p
}

// typeOf renders a property's JSON Schema type: "string", or alternatives
// joined by | from a type array or the types of anyOf/oneOf branches.
func typeOf(kw map[string]json.RawMessage) string {
	if raw, ok := kw["type"]; ok {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			return one
		}
		var many []string
		if json.Unmarshal(raw, &many) == nil {
			return strings.Join(many, "|")
		}
		return ""
	}
	for _, key := range []string{"anyOf", "oneOf"} {
		var branches []map[string]json.RawMessage
		if json.Unmarshal(kw[key], &branches) != nil || len(branches) == 0 {
			continue
		}
		types := make([]string, 0, len(branches))
		for _, br := range branches {
			t := typeOf(br)
			if t == "" {
				return ""
			}
			types = append(types, t)
		}
		return strings.Join(types, "|")
	}
	return ""
}

func parameter(raw json.RawMessage, required bool) *api.Parameter {
	p := parseProperty(raw)
	out := &api.Parameter{Type: p.typ, Required: required}
	if p.hasDefault {
		out.DefaultValue = p.defRaw
	}
	return out
}

// parameterAspects names what changed of a parameter both schemas declare.
func parameterAspects(from, to json.RawMessage, fromRequired, toRequired bool) []string {
	a, b := parseProperty(from), parseProperty(to)
	var aspects []string
	if a.typ != b.typ {
		aspects = append(aspects, "type")
	}
	if fromRequired != toRequired {
		aspects = append(aspects, "required")
	}
	if a.hasDefault != b.hasDefault || !reflect.DeepEqual(a.def, b.def) {
		aspects = append(aspects, "default")
	}
	if !reflect.DeepEqual(a.rest, b.rest) {
		aspects = append(aspects, "schema")
	}
	return aspects
}

func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return raw
	}
	return buf.Bytes()
}

// compareInputs diffs deploy-time inputs key by key at the top level.
func compareInputs(from, to json.RawMessage) []api.InputChange {
	var a, b map[string]json.RawMessage
	_ = json.Unmarshal(from, &a) // inputs were checked to be an object at deploy
	_ = json.Unmarshal(to, &b)
	changes := []api.InputChange{}
	for _, k := range unionKeys(a, b) {
		va, inA := a[k]
		vb, inB := b[k]
		c := api.InputChange{Key: k}
		switch {
		case !inA:
			c.Change = api.ChangeAdded
		case !inB:
			c.Change = api.ChangeRemoved
		case reflect.DeepEqual(decode(va), decode(vb)):
			continue
		default:
			c.Change = api.ChangeModified
		}
		if inA {
			c.Before = compact(va)
		}
		if inB {
			c.After = compact(vb)
		}
		if len(c.Before) > api.MaxDiffValueBytes || len(c.After) > api.MaxDiffValueBytes {
			c.Before, c.After, c.ValuesOmitted = nil, nil, true
		}
		changes = append(changes, c)
	}
	return changes
}

// unionKeys returns the keys of a and b, sorted, each once.
func unionKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// compareSecrets lists the secret names declared by one version only.
func compareSecrets(from, to []string) api.SecretsDiff {
	diff := api.SecretsDiff{Added: []string{}, Removed: []string{}}
	for _, s := range to {
		if !slices.Contains(from, s) {
			diff.Added = append(diff.Added, s)
		}
	}
	for _, s := range from {
		if !slices.Contains(to, s) {
			diff.Removed = append(diff.Removed, s)
		}
	}
	slices.Sort(diff.Added)
	slices.Sort(diff.Removed)
	return diff
}
