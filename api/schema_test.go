package api_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// jsonNames lists the JSON field names of a struct type as encoding/json
// sees them: tagged or Go names, embedded structs flattened, "-" skipped.
func jsonNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			names = append(names, jsonNames(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// schemaNames lists a schema's property names, following allOf.
func schemaNames(s *openapi3.Schema) []string {
	var names []string
	for name := range s.Properties {
		names = append(names, name)
	}
	for _, sub := range s.AllOf {
		names = append(names, schemaNames(sub.Value)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// TestSchemasAreTheWireTypes checks that each component schema of the
// document has exactly the JSON fields of the Go type the server encodes or
// decodes for it (pkg/api's bodies, the domain's values), so a field added
// on one side and not the other fails here.
func TestSchemasAreTheWireTypes(t *testing.T) {
	doc := loadDocument(t)
	schemas := map[string]any{
		// pkg/api: request and response bodies.
		"DeployRequest":       api.DeployRequest{},
		"SourceRequest":       api.Source{},
		"TagRequest":          api.TagRequest{},
		"ArtifactRequest":     api.ArtifactRequest{},
		"ArtifactStatus":      api.ArtifactStatus{},
		"InvokeRequest":       api.InvokeRequest{},
		"PinnedInvokeRequest": api.PinnedInvokeRequest{},
		"TokenRequest":        api.TokenRequest{},
		"Token":               api.Token{},
		"Status":              api.Status{},
		"StackList":           api.StackList{},
		"Error":               api.ErrorBody{},
		"DeploymentDiff":      api.DeploymentDiff{},
		"DiffSide":            api.DiffSide{},
		"FieldChange":         api.FieldChange{},
		"SchemaDiff":          api.SchemaDiff{},
		"ParameterChange":     api.ParameterChange{},
		"Parameter":           api.Parameter{},
		"InputChange":         api.InputChange{},
		"SecretsDiff":         api.SecretsDiff{},
		"SourceDiff":          api.SourceDiff{},
		"FileSummary":         api.FileSummary{},
		"FileChange":          api.FileChange{},
		"FileVersion":         api.FileVersion{},
		// pkg/registry: the domain's values, encoded as they are.
		"Source":          registry.Source{},
		"Deployment":      registry.Deployment{},
		"DeploymentList":  registry.Page[registry.Deployment]{},
		"Tag":             registry.Tag{},
		"RouteChange":     registry.RouteChange{},
		"RouteChangeList": registry.Page[registry.RouteChange]{},
		"FlowSummary":     registry.FlowSummary{},
		"FlowSummaryList": registry.Page[registry.FlowSummary]{},
		"Resolution":      registry.Resolution{},
		"Stack":           registry.Stack{},
		"Execution":       registry.Execution{},
		"ExecutionList":   registry.Page[registry.Execution]{},
		"ExecutionError":  registry.ExecError{},
		"Selector":        registry.Selector{},
	}
	for name, value := range schemas {
		t.Run(name+" has the fields of "+reflect.TypeOf(value).String(), func(t *testing.T) {
			ref := doc.Components.Schemas[name]
			if ref == nil || ref.Value == nil {
				t.Fatalf("the document has no schema %s", name)
			}
			if got, want := schemaNames(ref.Value), jsonNames(reflect.TypeOf(value)); !slices.Equal(got, want) {
				t.Errorf("schema %s properties = %v, want the JSON fields %v", name, got, want)
			}
		})
	}
	nested := []struct {
		schema, property string
		value            any
	}{
		{"Error", "error", api.ErrorDetail{}},
		{"ArtifactStatus", "upload", api.Upload{}},
	}
	for _, n := range nested {
		t.Run(n.schema+"."+n.property+" has the fields of "+reflect.TypeOf(n.value).String(), func(t *testing.T) {
			prop := doc.Components.Schemas[n.schema].Value.Properties[n.property]
			if prop == nil || prop.Value == nil {
				t.Fatalf("schema %s has no property %s", n.schema, n.property)
			}
			if got, want := schemaNames(prop.Value), jsonNames(reflect.TypeOf(n.value)); !slices.Equal(got, want) {
				t.Errorf("%s.%s properties = %v, want the JSON fields %v", n.schema, n.property, got, want)
			}
		})
	}
}
