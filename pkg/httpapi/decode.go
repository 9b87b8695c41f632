package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/registry"
)

// MaxBodyBytes bounds a request body; larger ones are refused with 413.
// Deploys, which may carry a small project inline, get MaxDeployBodyBytes.
const (
	MaxBodyBytes       = 1 << 20
	MaxDeployBodyBytes = 6 << 20
)

// serverOwned are fields of a deployment or tag that the server sets; a
// client sending one gets told so rather than "unknown field".
var serverOwned = []string{"version", "snapshot", "project", "flow", "created_at", "created_by", "tags"}

// bodyOf returns the raw request body, decoding base64 when API Gateway
// passed it that way, and refuses bodies over limit bytes.
func bodyOf(req events.APIGatewayProxyRequest, limit int) ([]byte, error) {
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, registry.Errorf(registry.CodeInvalidArgument, "request body is not valid base64")
		}
		body = decoded
	}
	if len(body) > limit {
		return nil, registry.Errorf(registry.CodePayloadTooLarge, "request body is %d bytes; the limit is %d MiB: pass large inputs by reference (a URL or object key), and upload large projects through POST /v1/artifacts", len(body), limit>>20).
			WithDetails("limit_bytes", limit)
	}
	return body, nil
}

// decodeRequest reads the request body (within the route's size limit) and
// decodes it strictly into dst.
func decodeRequest(c *call, dst any, emptyOK bool) error {
	body, err := bodyOf(c.req, c.maxBody)
	if err != nil {
		return err
	}
	return decodeBody(body, dst, emptyOK)
}

// decodeBody decodes body strictly into dst, a pointer to a request struct:
// exactly one JSON object, only the struct's fields (matched exactly, not
// case-insensitively), each of the right type, no key twice in any object,
// and only numbers a float64 holds (registry.CheckJSON). An empty body is an empty
// object when emptyOK is set.
func decodeBody(body []byte, dst any, emptyOK bool) error {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0 && emptyOK:
		return nil
	case len(trimmed) == 0:
		return registry.Errorf(registry.CodeInvalidArgument, "request body is empty; send a JSON object")
	case trimmed[0] != '{':
		return registry.Errorf(registry.CodeInvalidArgument, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return registry.Errorf(registry.CodeInvalidArgument, "request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return registry.Errorf(registry.CodeInvalidArgument, "request body has data after the JSON object; send exactly one object")
	}
	// encoding/json keeps the last of duplicate keys; the contract refuses
	// them, and numbers a float64 cannot hold, at any depth. Inputs and
	// input_schema sit one level down, so the body may nest one level more.
	if err := registry.CheckJSON(trimmed, "request body", registry.MaxJSONDepth+1); err != nil {
		return err
	}
	if err := checkFields(fields, reflect.TypeOf(dst).Elem(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(trimmed, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		var domainErr *registry.Error // a type's own UnmarshalJSON says what is wrong
		if errors.As(err, &domainErr) {
			return domainErr
		}
		if errors.As(err, &typeErr) {
			return registry.Errorf(registry.CodeInvalidArgument, "field %q must be %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value).
				WithDetails("field", typeErr.Field)
		}
		return registry.Errorf(registry.CodeInvalidArgument, "request body is not valid JSON: %v", err)
	}
	return nil
}

// checkFields refuses keys that t (a struct type) has no field for, and
// descends into nested objects of struct-typed fields.
func checkFields(obj map[string]json.RawMessage, t reflect.Type, prefix string) error {
	known := jsonFields(t)
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		ft, ok := known[k]
		switch {
		case !ok && prefix == "" && slices.Contains(serverOwned, k):
			return registry.Errorf(registry.CodeInvalidArgument, "field %q is set by the server; remove it from the request body", k).
				WithDetails("field", k)
		case !ok && len(known) == 0:
			return registry.Errorf(registry.CodeInvalidArgument, "unknown field %q; this request takes no fields: send {} or no body", prefix+k).
				WithDetails("field", prefix+k)
		case !ok:
			return registry.Errorf(registry.CodeInvalidArgument, "unknown field %q; the allowed fields are: %s", prefix+k, strings.Join(slices.Sorted(maps.Keys(known)), ", ")).
				WithDetails("field", prefix+k)
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var nested map[string]json.RawMessage
		if ft.Kind() == reflect.Struct && json.Unmarshal(obj[k], &nested) == nil && nested != nil {
			if err := checkFields(nested, ft, prefix+k+"."); err != nil {
				return err
			}
		}
	}
	return nil
}

// jsonFields maps the JSON names of t's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && name != "" {
			fields[name] = f.Type
		}
	}
	return fields
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonKind(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	default:
		return "an object"
	}
}
