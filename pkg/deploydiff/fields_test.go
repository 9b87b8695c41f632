package deploydiff_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/deploydiff"
	"github.com/kitaru/deployments/pkg/registry"
)

func deployment(version int, edit func(*registry.Deployment)) registry.Deployment {
	d := registry.Deployment{
		Project: "p", Flow: "research", Version: version, Entrypoint: "flows/research.py:research",
		Stack: "local", Inputs: json.RawMessage(`{"topic":"ai"}`),
		Source:    &registry.Source{Digest: "sha256:" + strings.Repeat("a", 64), Size: 10, Commit: "abc", Dirty: false},
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if edit != nil {
		edit(&d)
	}
	return d
}

func compare(a, b registry.Deployment) api.DeploymentDiff {
	return deploydiff.Compare("research", deploydiff.Side{Ref: "1", Deployment: a}, deploydiff.Side{Ref: "stable", Tag: "stable", Deployment: b})
}

func TestCompareOfOneDeploymentIsEmpty(t *testing.T) {
	d := compare(deployment(1, nil), deployment(1, nil))
	if !d.Identical || len(d.Fields)+len(d.Inputs)+len(d.InputSchema.Parameters)+len(d.Secrets.Added)+len(d.Secrets.Removed) != 0 || !d.Source.SameBundle {
		t.Errorf("diff of a deployment with itself = %+v; want identical and empty", d)
	}
	if d.From.Ref != "1" || d.To.Tag != "stable" || d.To.Version != 1 {
		t.Errorf("sides = %+v %+v", d.From, d.To)
	}
}

func TestCompareNamesChangedFields(t *testing.T) {
	b := deployment(2, func(d *registry.Deployment) {
		d.Entrypoint, d.Stack, d.Description = "flows/v2.py:research", "aws", "faster"
		d.Source = &registry.Source{Digest: "sha256:" + strings.Repeat("b", 64), Commit: "def", Dirty: true}
	})
	want := []api.FieldChange{
		{Field: "entrypoint", Before: "flows/research.py:research", After: "flows/v2.py:research"},
		{Field: "stack", Before: "local", After: "aws"},
		{Field: "description", Before: "", After: "faster"},
		{Field: "source.digest", Before: "sha256:" + strings.Repeat("a", 64), After: "sha256:" + strings.Repeat("b", 64)},
		{Field: "source.commit", Before: "abc", After: "def"},
		{Field: "source.dirty", Before: false, After: true},
	}
	d := compare(deployment(1, nil), b)
	if diff := cmp.Diff(want, d.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if d.Identical || d.Source.SameBundle {
		t.Errorf("identical = %v, same bundle = %v; want neither", d.Identical, d.Source.SameBundle)
	}
}

func TestCompareDiffsInputSchemasParameterByParameter(t *testing.T) {
	from := `{"type":"object","properties":{
		"topic":{"type":"string"},
		"depth":{"type":"integer","default":1},
		"mode":{"type":"string","enum":["a","b"]},
		"gone":{"type":"string"},
		"same":{"type":["integer","null"],"default":null}
	},"required":["topic"],"additionalProperties":false}`
	to := `{"type":"object","properties":{
		"topic":{"type":"string"},
		"depth":{"type":["integer","null"],"default":2},
		"mode":{"type":"string","enum":["a","b","c"]},
		"limit":{"anyOf":[{"type":"integer"},{"type":"null"}]},
		"same":{"default":null,"type":["integer","null"]}
	},"required":["topic","depth","limit"],"additionalProperties":false}`
	d := compare(deployment(1, func(d *registry.Deployment) { d.InputSchema = json.RawMessage(from) }),
		deployment(2, func(d *registry.Deployment) { d.InputSchema = json.RawMessage(to) }))
	want := api.SchemaDiff{FromDeclared: true, ToDeclared: true, Parameters: []api.ParameterChange{
		{Name: "depth", Change: "modified", Aspects: []string{"type", "required", "default"},
			From: &api.Parameter{Type: "integer", DefaultValue: json.RawMessage(`1`)},
			To:   &api.Parameter{Type: "integer|null", Required: true, DefaultValue: json.RawMessage(`2`)}},
		{Name: "gone", Change: "removed", From: &api.Parameter{Type: "string"}},
		{Name: "limit", Change: "added", To: &api.Parameter{Type: "integer|null", Required: true}},
		{Name: "mode", Change: "modified", Aspects: []string{"schema"},
			From: &api.Parameter{Type: "string"}, To: &api.Parameter{Type: "string"}},
	}}
	if diff := cmp.Diff(want, d.InputSchema); diff != "" {
		t.Errorf("input schema diff (-want +got):\n%s", diff)
	}

	t.Run("keywords outside the properties are flagged", func(t *testing.T) {
		open := strings.Replace(to, `"additionalProperties":false`, `"additionalProperties":true`, 1)
		d := compare(deployment(1, func(d *registry.Deployment) { d.InputSchema = json.RawMessage(to) }),
			deployment(2, func(d *registry.Deployment) { d.InputSchema = json.RawMessage(open) }))
		if !d.InputSchema.OtherChanged || len(d.InputSchema.Parameters) != 0 || d.Identical {
			t.Errorf("schema diff = %+v; want only other_changed", d.InputSchema)
		}
	})
	t.Run("a schema declared by one side only adds or removes every parameter", func(t *testing.T) {
		d := compare(deployment(1, nil), deployment(2, func(d *registry.Deployment) { d.InputSchema = json.RawMessage(to) }))
		if d.InputSchema.FromDeclared || !d.InputSchema.ToDeclared || len(d.InputSchema.Parameters) != 5 {
			t.Errorf("schema diff = %+v; want 5 parameters added to an undeclared schema", d.InputSchema)
		}
		for _, p := range d.InputSchema.Parameters {
			if p.Change != "added" {
				t.Errorf("parameter %s is %s; want added", p.Name, p.Change)
			}
		}
	})
}

func TestCompareDiffsDeployTimeInputsKeyByKey(t *testing.T) {
	big := `"` + strings.Repeat("x", api.MaxDiffValueBytes) + `"`
	from := `{"topic":"ai","depth":1,"opts":{"a":1,"b":2},"old":true,"blob":"s"}`
	to := `{"opts":{"b":2,"a":1},"topic":"ml","depth":1,"new":[1],"blob":` + big + `}`
	d := compare(deployment(1, func(d *registry.Deployment) { d.Inputs = json.RawMessage(from) }),
		deployment(2, func(d *registry.Deployment) { d.Inputs = json.RawMessage(to) }))
	want := []api.InputChange{
		{Key: "blob", Change: "modified", ValuesOmitted: true},
		{Key: "new", Change: "added", After: json.RawMessage(`[1]`)},
		{Key: "old", Change: "removed", Before: json.RawMessage(`true`)},
		{Key: "topic", Change: "modified", Before: json.RawMessage(`"ai"`), After: json.RawMessage(`"ml"`)},
	}
	if diff := cmp.Diff(want, d.Inputs); diff != "" {
		t.Errorf("inputs (-want +got):\n%s", diff)
	}
}

func TestCompareListsSecretsAddedAndRemoved(t *testing.T) {
	d := compare(deployment(1, func(d *registry.Deployment) { d.Secrets = []string{"A", "B"} }),
		deployment(2, func(d *registry.Deployment) { d.Secrets = []string{"B", "C", "D"} }))
	if diff := cmp.Diff(api.SecretsDiff{Added: []string{"C", "D"}, Removed: []string{"A"}}, d.Secrets); diff != "" {
		t.Errorf("secrets (-want +got):\n%s", diff)
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		ref     string
		want    registry.Selector
		wantErr bool
	}{
		{ref: "3", want: registry.Selector{Version: 3}},
		{ref: "stable", want: registry.Selector{Tag: "stable"}},
		{ref: "tag:3", want: registry.Selector{Tag: "3"}},
		{ref: "v2", want: registry.Selector{Tag: "v2"}},
		{ref: "", wantErr: true},
		{ref: "03", wantErr: true},
		{ref: "0", wantErr: true},
		{ref: "tag:", wantErr: true},
		{ref: "a b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := deploydiff.ParseRef("from", tt.ref)
			if tt.wantErr {
				var e *registry.Error
				if !errors.As(err, &e) || e.Code != registry.CodeInvalidArgument || !strings.Contains(e.Message, "from") {
					t.Errorf("ParseRef(%q) = %v, %v; want invalid_argument naming from", tt.ref, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
			}
		})
	}
}
