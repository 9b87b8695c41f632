package registry_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// hostileEntrypoints seed FuzzParseEntrypoint and the agreement test.
var hostileEntrypoints = []string{
	"flows/f.py:os.system", ":import", "f.py:f:g", "flows/research.py:__import__", "flows/f.py:f\x00",
	"flows/f.py:f\n", "/etc/passwd.py:f", "flows/../../x.py:f", "flows/%2e%2e/x.py:f", "flows/ｆ.py:ｆ",
	"flows/f.py:\u00e9", "\xff.py:f", "flows/f.py:f\u200b", strings.Repeat("a/", 600) + "f.py:f",
}

func FuzzParseEntrypoint(f *testing.F) {
	cases := loadEntrypointCases(f)
	for _, c := range cases.Valid {
		f.Add(c[0])
	}
	for _, s := range append(cases.Invalid, hostileEntrypoints...) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, entrypoint string) {
		file, function, err := registry.ParseEntrypoint(entrypoint)
		if err != nil {
			if registry.CodeOf(err) != registry.CodeInvalidArgument {
				t.Fatalf("%q: %v is not invalid_argument", entrypoint, err)
			}
			return
		}
		segments := strings.Split(file, "/")
		switch {
		case !strings.HasSuffix(file, ".py"), strings.HasPrefix(file, "/"), slices.Contains(segments, ".."),
			slices.Contains(segments, "."), slices.Contains(segments, ""), strings.ContainsAny(file, ":\\\x00\n"):
			t.Fatalf("%q gave file %q", entrypoint, file)
		case function == "" || strings.ContainsAny(function, ".:/ ") || function[0] >= '0' && function[0] <= '9':
			t.Fatalf("%q gave function %q", entrypoint, function)
		}
		// The saved form parses to itself.
		f2, fn2, err := registry.ParseEntrypoint(file + ":" + function)
		if err != nil || f2 != file || fn2 != function {
			t.Fatalf("%q: cleaned %q:%q parses to %q, %q, %v", entrypoint, file, function, f2, fn2, err)
		}
	})
}

// TestEntrypointRuleAgreesWithRunner runs runner.py's parse_entrypoint in a
// real python3 over the shared cases, the hostile seeds and mutations of
// them, and requires the same verdict and the same split as Go's.
func TestEntrypointRuleAgreesWithRunner(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	cases := loadEntrypointCases(t)
	inputs := append(slices.Clone(cases.Invalid), hostileEntrypoints...)
	for _, c := range cases.Valid {
		inputs = append(inputs, c[0])
	}
	pieces := []string{":", "/", "..", ".", ".py", "\\", "class", "_", "é", "\x01", " ", "a", "9", "//", "./"}
	rng := rand.New(rand.NewPCG(1, 2))
	seeds := slices.Clone(inputs)
	for range 3000 {
		s := []rune(seeds[rng.IntN(len(seeds))])
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(s) + 1)
			switch rng.IntN(3) {
			case 0:
				s = slices.Insert(s, at, []rune(pieces[rng.IntN(len(pieces))])...)
			case 1:
				if at < len(s) {
					s = slices.Delete(s, at, at+1)
				}
			default:
				if at < len(s) {
					s[at] = []rune(pieces[rng.IntN(len(pieces))])[0]
				}
			}
		}
		inputs = append(inputs, string(s))
	}
	inputs = slices.DeleteFunc(inputs, func(s string) bool { return !json.Valid(mustJSON(t, s)) || strings.ToValidUTF8(s, "") != s })

	runnerDir, _ := filepath.Abs("../../functions/runner")
	script := `
import json, sys
sys.path.insert(0, sys.argv[1])
import runner
out = []
for e in json.load(sys.stdin):
    try:
        out.append(list(runner.parse_entrypoint(e)))
    except runner.InvalidEvent:
        out.append(None)
json.dump(out, sys.stdout)
`
	cmd := exec.Command(python, "-c", script, runnerDir)
	cmd.Stdin = bytes.NewReader(mustJSON(t, inputs))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var verdicts [][]string
	if err := json.Unmarshal(out, &verdicts); err != nil {
		t.Fatal(err)
	}
	disagree := 0
	for i, e := range inputs {
		file, function, err := registry.ParseEntrypoint(e)
		var got []string
		if err == nil {
			got = []string{file, function}
		}
		if !slices.Equal(got, verdicts[i]) {
			disagree++
			t.Errorf("%q: Go %q, runner.py %q", e, got, verdicts[i])
		}
	}
	t.Logf("%d entrypoints, %d disagreements", len(inputs), disagree)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hostileSchemas seed FuzzCompileInputSchema: every way found to make the
// compiler read a file or fetch a URL, and shapes that make it or the
// validator work hard.
var hostileSchemas = []string{
	`{"$ref": "file:///etc/passwd"}`, `{"$ref": "secret.json"}`, `{"$ref": "./secret.json#/const"}`,
	`{"$ref": "missing.json"}`, `{"$ref": "http://127.0.0.1:1/x.json"}`, `{"$ref": "//example.invalid/x"}`,
	`{"$schema": "file:///etc/passwd"}`, `{"$schema": "secret.json"}`, `{"$id": "file:///etc/", "$ref": "passwd"}`,
	`{"$id": "http://example.invalid/a/", "$defs": {"x": {"$id": "b.json", "type": "string"}}, "$ref": "b.json"}`,
	`{"$dynamicRef": "secret.json"}`, `{"$schema": "https://json-schema.org/draft/2019-09/schema", "$recursiveRef": "secret.json"}`,
	`{"$schema": "http://json-schema.org/draft-04/schema#", "id": "file:///etc/", "$ref": "passwd"}`,
	`{"properties": {"a": {"$ref": "#/$defs/nope"}}}`, `{"$ref": "#"}`, `{"anyOf": [{"$ref": "#"}]}`,
	`{"type": "object", "type": "string"}`, `{"maximum": 1e400}`, `{"pattern": "(a+)+$"}`, `{"pattern": "("}`,
	`{"format": "regex", "pattern": "\\p{Foo}"}`, `true`, `false`, `[]`, `"x"`, `{}`, `{"type": 7}`,
	strings.Repeat(`{"not": `, 70) + `{}` + strings.Repeat(`}`, 70),
	doublingChain(30, `"$ref": %q`), doublingChain(20, `"items": {"$ref": %q}`),
}

func FuzzCompileInputSchema(f *testing.F) {
	dir := f.TempDir()
	f.Chdir(dir) // where a relative ref resolved when the file loader was on
	const secret = "TOPSECRET-4be1"
	for _, name := range []string{"secret.json", "passwd", "b.json", "x.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(`{"const": "`+secret+`"}`), 0o600); err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range hostileSchemas {
		f.Add([]byte(s))
	}
	// Validating these against a schema that had read a file would quote its const.
	instances := []json.RawMessage{json.RawMessage(`"x"`), json.RawMessage(`{"a": [1, "x", {"b": null}]}`), json.RawMessage(`5`)}
	f.Fuzz(func(t *testing.T, schema []byte) {
		sch, err := registry.CompileInputSchema(schema)
		if err != nil {
			if c := registry.CodeOf(err); c != registry.CodeInvalidArgument && c != registry.CodePayloadTooLarge {
				t.Fatalf("%v is neither invalid_argument nor payload_too_large", err)
			}
			for _, leak := range []string{secret, "no such file", "permission denied", "connection refused", dir} {
				if strings.Contains(err.Error(), leak) && !bytes.Contains(schema, []byte(leak)) {
					t.Fatalf("%q reveals %q", err, leak)
				}
			}
			return
		}
		for _, inst := range instances {
			if err := sch.Validate(inst); err != nil && strings.Contains(err.Error(), secret) && !bytes.Contains(schema, []byte(secret)) {
				t.Fatalf("validating %s reveals the file: %v", inst, err)
			}
		}
	})
}
