package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// hostileBodies seed FuzzDecodeBody: duplicate keys at every depth and in
// every spelling, numbers Python or Go cannot hold, and deep nesting.
var hostileBodies = []string{
	`{"entrypoint": "f.py:f", "tag": "zz", "exclusive": true, "tag": "default"}`,
	`{"tag": "a", "t\u0061g": "b"}`, `{"inputs": {"a": 1, "a": 2}}`, `{"inputs": {"x": [{"k": 1, "k": 2}]}}`,
	`{"source": {"digest": "a", "digest": "b"}}`, `{"input_schema": {"type": "object", "type": "string"}}`,
	`{"inputs": {"n": 1e400}}`, `{"inputs": {"n": -1e400}}`, `{"inputs": {"n": 1e-400}}`, `{"inputs": {"n": 0e-999}}`,
	`{"inputs": {"n": 123456789012345678901234567890}}`, `{"version": 1e400}`, `{"version": 01}`, `{"version": +1}`,
	`{"inputs": {"": 1, "": 2}}`, `{"inputs": {"a\ud800": 1, "a\ufffd": 2}}`, "{\"inputs\": {\"a\xff\": 1, \"a\xfe\": 2}}",
	`{"Tag": "a", "tag": "b"}`, `{"inputs": ` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`,
	`{"inputs": {}} {}`, `{"inputs": {}`, ``, `null`, `[]`, `{"inputs": NaN}`, `{"inputs": {"a": 1,}}`,
}

func FuzzDecodeBody(f *testing.F) {
	for _, b := range hostileBodies {
		f.Add([]byte(b), "k")
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		// Never panics; whatever it accepts, encoding/json reads the same way.
		var got api.DeployRequest
		err := decodeBody(body, &got, true)
		switch {
		case len(bytes.TrimSpace(body)) == 0:
			// an empty body is an empty object
		case err == nil:
			var want api.DeployRequest
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
			}
			if !reflect.DeepEqual(normalized(got), normalized(want)) {
				t.Fatalf("%q decoded as %+v, encoding/json says %+v", body, got, want)
			}
		case registry.CodeOf(err) != registry.CodeInvalidArgument:
			t.Fatalf("%q: %v is not invalid_argument", body, err)
		}
		if !json.Valid(body) {
			return
		}
		// As inputs, a valid document within the rules is accepted as is...
		wrapped := append(append([]byte(`{"inputs": {"v": `), body...), "}}"...)
		var p api.PinnedInvokeRequest
		err = decodeBody(wrapped, &p, false)
		dup, badNumber, depth := inspect(body)
		switch {
		case dup:
			if err == nil || !strings.Contains(err.Error(), "duplicate key") {
				t.Fatalf("%q has a duplicate key, got %v", body, err)
			}
		case badNumber:
			if err == nil || !strings.Contains(err.Error(), "cannot be represented") {
				t.Fatalf("%q has an unrepresentable number, got %v", body, err)
			}
		case depth+1 > registry.MaxJSONDepth:
			if err == nil || !strings.Contains(err.Error(), "deeper") {
				t.Fatalf("%q nests %d deep, got %v", body, depth, err)
			}
		default:
			if err != nil {
				t.Fatalf("%q is within the rules, got %v", body, err)
			}
			var want api.PinnedInvokeRequest
			if err := json.Unmarshal(wrapped, &want); err != nil || !bytes.Equal(p.Inputs, want.Inputs) {
				t.Fatalf("%q: inputs %s, encoding/json %s (%v)", body, p.Inputs, want.Inputs, err)
			}
		}
		// ...and the same document under one key twice is refused, naming it.
		if badNumber || depth+1 > registry.MaxJSONDepth {
			return // refused for that first
		}
		quoted, _ := json.Marshal(key)
		k := string(quoted)
		twice := []byte(`{"inputs": {` + k + `: ` + string(body) + `, ` + k + `: ` + string(body) + `}}`)
		if err := decodeBody(twice, &p, false); err == nil || !strings.Contains(err.Error(), "duplicate key") || !strings.Contains(err.Error(), "inputs.") {
			t.Fatalf("%s: got %v, want a duplicate key refusal", twice, err)
		}
	})
}

// normalized makes RawMessages comparable however they were decoded.
func normalized(b api.DeployRequest) api.DeployRequest {
	compact := func(r json.RawMessage) json.RawMessage {
		if r == nil {
			return nil
		}
		var buf bytes.Buffer
		if json.Compact(&buf, r) != nil {
			return r
		}
		return buf.Bytes()
	}
	b.Inputs, b.InputSchema = compact(b.Inputs), compact(b.InputSchema)
	return b
}

// inspect is a reference for registry.CheckJSON written differently (one
// recursive descent per value through encoding/json): whether a valid
// document has a duplicate key or a number a float64 cannot hold, and how
// deeply it nests.
func inspect(doc []byte) (dup, badNumber bool, depth int) {
	doc = bytes.TrimSpace(doc)
	switch {
	case len(doc) == 0:
		return false, false, 0
	case doc[0] == '{':
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.Token()
		seen := map[string]bool{}
		for dec.More() {
			tok, _ := dec.Token()
			k, _ := tok.(string)
			var v json.RawMessage
			dec.Decode(&v)
			if seen[k] {
				dup = true
			}
			seen[k] = true
			d, b, n := inspect(v)
			dup, badNumber, depth = dup || d, badNumber || b, max(depth, n)
		}
		return dup, badNumber, depth + 1
	case doc[0] == '[':
		var items []json.RawMessage
		json.Unmarshal(doc, &items)
		for _, v := range items {
			d, b, n := inspect(v)
			dup, badNumber, depth = dup || d, badNumber || b, max(depth, n)
		}
		return dup, badNumber, depth + 1
	case doc[0] == '-' || doc[0] >= '0' && doc[0] <= '9':
		f, err := strconv.ParseFloat(string(doc), 64)
		mantissa := strings.ToLower(string(doc))
		if i := strings.IndexByte(mantissa, 'e'); i >= 0 {
			mantissa = mantissa[:i]
		}
		return false, err != nil || f == 0 && strings.ContainsAny(mantissa, "123456789"), 0
	}
	return false, false, 0
}
