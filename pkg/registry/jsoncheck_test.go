package registry_test

import (
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

func TestInputsRefuseWhatPythonAndGoCannotHold(t *testing.T) {
	tests := []struct {
		name, inputs string
		key          string // the refusal names it; empty: accepted
	}{
		{"a number overflowing a float64 is refused", `{"n": 1e400}`, `"n"`},
		{"a negative overflow is refused", `{"n": -1e400}`, `"n"`},
		{"a long integer overflowing a float64 is refused", `{"n": 1` + strings.Repeat("0", 400) + `}`, `"n"`},
		{"a non-zero number rounding to zero is refused", `{"n": 1e-400}`, `"n"`},
		{"a nested overflow is refused naming its path", `{"opts": {"xs": [1, 2, 1e400]}}`, `"opts.xs.2"`},
		{"a duplicate key is refused naming it", `{"topic": "zz", "topic": "default"}`, `"topic"`},
		{"a duplicate key spelt with an escape is refused", `{"topic": 1, "\u0074opic": 2}`, `"topic"`},
		{"a nested duplicate key is refused naming its path", `{"opts": {"a": 1, "a": 2}}`, `"opts.a"`},
		{"nesting deeper than the limit is refused", `{"n": ` + strings.Repeat("[", registry.MaxJSONDepth) + strings.Repeat("]", registry.MaxJSONDepth) + `}`, `"n`},
		{"the largest float64 is accepted", `{"n": 1.7976931348623157e308}`, ""},
		{"the smallest subnormal is accepted", `{"n": 5e-324}`, ""},
		{"zero with a huge exponent is zero and accepted", `{"n": 0e-999, "m": -0.0e999}`, ""},
		{"an integer beyond 2^53 is passed through exactly", `{"n": 123456789012345678901234567890}`, ""},
		{"equal keys in different objects are fine", `{"a": {"k": 1}, "b": {"k": 1}, "k": [{"k": 1}, {"k": 2}]}`, ""},
		{"nesting at the limit is accepted", `{"n": ` + strings.Repeat("[", registry.MaxJSONDepth-1) + strings.Repeat("]", registry.MaxJSONDepth-1) + `}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := registry.NormalizeInputs([]byte(tt.inputs))
			if tt.key == "" {
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(tt.inputs, "123456789012345678901234567890") && !strings.Contains(string(got), "123456789012345678901234567890") {
					t.Errorf("the integer changed: %s", got)
				}
				return
			}
			if codeOf(err) != registry.CodeInvalidArgument {
				t.Fatalf("got %v, want invalid_argument", err)
			}
			if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("%q does not name %s", err, tt.key)
			}
		})
	}
	t.Run("a deploy with 1e400 in its inputs is refused naming the key", func(t *testing.T) {
		r := registry.DeployRequest{Project: "p", Flow: "f", Entrypoint: "f.py:f", Inputs: []byte(`{"limit": 1e400}`)}
		if err := r.Normalize(); codeOf(err) != registry.CodeInvalidArgument || !strings.Contains(err.Error(), `"limit"`) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestVersionsAreCanonical(t *testing.T) {
	for _, s := range []string{"+1", "01", "001", "-0", "0", "1.0", "1e0", " 1", "1 ", "0x1", "1_0", "١", "99999999999999999999", ""} {
		t.Run(s+" is refused", func(t *testing.T) {
			if v, err := registry.ParseVersion(s); codeOf(err) != registry.CodeInvalidArgument {
				t.Fatalf("ParseVersion(%q) = %d, %v", s, v, err)
			}
		})
	}
	for s, want := range map[string]int{"1": 1, "10": 10, "2147483647": 2147483647} {
		t.Run(s+" is read", func(t *testing.T) {
			if v, err := registry.ParseVersion(s); err != nil || v != want {
				t.Fatalf("ParseVersion(%q) = %d, %v", s, v, err)
			}
		})
	}
}

// TestIfMatchIsStrict: If-Match carries the revision a tag change is
// conditional on, bare or quoted; anything else is refused, never read loosely.
func TestIfMatchIsStrict(t *testing.T) {
	for s, want := range map[string]int64{"3": 3, `"3"`: 3, " 3 ": 3, `"0"`: 0, "12345": 12345} {
		t.Run(s+" is read", func(t *testing.T) {
			if rev, err := registry.ParseRevision(s); err != nil || rev != want {
				t.Fatalf("ParseRevision(%q) = %d, %v", s, rev, err)
			}
		})
	}
	for _, s := range []string{"", "+3", "03", `"03"`, "-1", `W/"3"`, "*", `"3`, `3"`, `""3""`, `"3", "4"`, "3,4", "0x3", "3.0", `" 3"`, "99999999999999999999"} {
		t.Run(s+" is refused", func(t *testing.T) {
			if rev, err := registry.ParseRevision(s); codeOf(err) != registry.CodeInvalidArgument {
				t.Fatalf("ParseRevision(%q) = %d, %v", s, rev, err)
			}
		})
	}
}
