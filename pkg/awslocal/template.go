// Package awslocal runs the synthesized stack on emulators: every Lambda
// function of the cloud assembly under AWS's runtime interface emulator,
// Step Functions, S3 and Secrets Manager in moto's server (with LocalStack's
// ASL interpreter executing the state machine), the table in a DynamoDB
// endpoint (DynamoDB Local), and API Gateway played by pkg/gateway following
// the template's resources, methods, authorizer and gateway responses. The
// template is the only description used: names, environment variables, the
// state machine definition and the routes all come from cdk.out.
package awslocal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Template is one stack of a cloud assembly.
type Template struct {
	// Dir is the cloud assembly directory (cdk.out).
	Dir string
	// Resources by logical id.
	Resources map[string]Resource
	// Assets maps an asset's object key (<hash>.zip) to its directory.
	Assets map[string]string
}

// Resource is one resource of the template.
type Resource struct {
	Type       string         `json:"Type"`
	Properties map[string]any `json:"Properties"`
}

// LoadTemplate reads stack's template and asset manifest from the cloud
// assembly in dir.
func LoadTemplate(dir, stack string) (*Template, error) {
	var doc struct {
		Resources map[string]Resource `json:"Resources"`
	}
	if err := readJSON(filepath.Join(dir, stack+".template.json"), &doc); err != nil {
		return nil, fmt.Errorf("read the template of stack %s (run make synth first): %w", stack, err)
	}
	var assets struct {
		Files map[string]struct {
			Source struct {
				Path      string `json:"path"`
				Packaging string `json:"packaging"`
			} `json:"source"`
			Destinations map[string]struct {
				ObjectKey string `json:"objectKey"`
			} `json:"destinations"`
		} `json:"files"`
	}
	if err := readJSON(filepath.Join(dir, stack+".assets.json"), &assets); err != nil {
		return nil, fmt.Errorf("read the asset manifest of stack %s: %w", stack, err)
	}
	t := &Template{Dir: dir, Resources: doc.Resources, Assets: map[string]string{}}
	for _, f := range assets.Files {
		for _, d := range f.Destinations {
			t.Assets[d.ObjectKey] = filepath.Join(dir, f.Source.Path)
		}
	}
	return t, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// OfType returns the logical ids of the resources of type typ, sorted.
func (t *Template) OfType(typ string) []string {
	var ids []string
	for id, r := range t.Resources {
		if r.Type == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// one returns the single resource of type typ.
func (t *Template) one(typ string) (string, error) {
	ids := t.OfType(typ)
	if len(ids) != 1 {
		return "", fmt.Errorf("the template has %d resources of type %s; aws-local runs stacks with exactly one", len(ids), typ)
	}
	return ids[0], nil
}

// Values are what intrinsic functions resolve to: Ref of a logical id or a
// pseudo parameter, and Fn::GetAtt as "LogicalId.Attribute".
type Values map[string]string

// Resolve evaluates the intrinsic functions in v (Ref, Fn::GetAtt, Fn::Join,
// Fn::Sub, Fn::Select, Fn::Split) and returns plain JSON values.
func (vals Values) Resolve(v any) (any, error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := vals.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for fn, arg := range v {
				if fn == "Ref" || strings.HasPrefix(fn, "Fn::") {
					return vals.call(fn, arg)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := vals.Resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// String resolves v to a string.
func (vals Values) String(v any) (string, error) {
	r, err := vals.Resolve(v)
	if err != nil {
		return "", err
	}
	switch r := r.(type) {
	case string:
		return r, nil
	case float64, bool:
		return fmt.Sprint(r), nil
	}
	return "", fmt.Errorf("%v is not a string", r)
}

func (vals Values) lookup(key string) (string, error) {
	if s, ok := vals[key]; ok {
		return s, nil
	}
	return "", fmt.Errorf("aws-local cannot resolve %s: it creates no such resource or attribute", key)
}

// twoArgs reads the two-element argument list of fn.
func twoArgs(fn string, arg any) ([]any, error) {
	parts, ok := arg.([]any)
	if !ok || len(parts) != 2 {
		return nil, fmt.Errorf("%s takes a list of two, not %v", fn, arg)
	}
	return parts, nil
}

func (vals Values) call(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("%s takes a logical id, not %v", fn, arg)
		}
		return vals.lookup(name)
	case "Fn::GetAtt":
		parts, err := twoArgs("Fn::GetAtt", arg)
		if err != nil {
			return nil, err
		}
		return vals.lookup(fmt.Sprintf("%v.%v", parts[0], parts[1]))
	case "Fn::Join":
		parts, err := twoArgs("Fn::Join", arg)
		if err != nil {
			return nil, err
		}
		list, err := vals.Resolve(parts[1])
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return nil, fmt.Errorf("Fn::Join of a non-list %v", list)
		}
		strs := make([]string, len(items))
		for i, it := range items {
			if strs[i], err = vals.String(it); err != nil {
				return nil, err
			}
		}
		return strings.Join(strs, fmt.Sprint(parts[0])), nil
	case "Fn::Split":
		parts, err := twoArgs("Fn::Split", arg)
		if err != nil {
			return nil, err
		}
		s, err := vals.String(parts[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, fmt.Sprint(parts[0])) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Select":
		parts, err := twoArgs("Fn::Select", arg)
		if err != nil {
			return nil, err
		}
		list, err := vals.Resolve(parts[1])
		if err != nil {
			return nil, err
		}
		items, _ := list.([]any)
		i, ok := parts[0].(float64)
		if !ok || int(i) < 0 || int(i) >= len(items) {
			return nil, fmt.Errorf("Fn::Select index %v of %v", parts[0], list)
		}
		return items[int(i)], nil
	case "Fn::Sub":
		s, ok := arg.(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Sub with variables is not supported: %v", arg)
		}
		var b strings.Builder
		for {
			start := strings.Index(s, "${")
			if start < 0 {
				b.WriteString(s)
				return b.String(), nil
			}
			end := strings.Index(s[start:], "}")
			if end < 0 {
				return nil, fmt.Errorf("Fn::Sub: unterminated ${ in %q", arg)
			}
			v, err := vals.lookup(s[start+2 : start+end])
			if err != nil {
				return nil, err
			}
			b.WriteString(s[:start])
			b.WriteString(v)
			s = s[start+end+1:]
		}
	}
	return nil, fmt.Errorf("aws-local does not support %s", fn)
}
