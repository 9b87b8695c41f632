package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/mcpserver"
	"github.com/kitaru/deployments/pkg/mcpserver/mcptest"
	"github.com/kitaru/deployments/pkg/registry"
)

// sharedSchemas is testdata/schemas/signatures.json: the input schema every
// surface derives for each flow of testdata/flows/signatures (the Python
// SDK's suite checks the same file).
func sharedSchemas(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "schemas", "signatures.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]any
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	delete(all, "_comment")
	return all
}

func decoded(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return v
}

// TestInputContractIsTheSameOnEverySurface deploys each fixture flow through
// kitaru deploy and through the MCP deploy tool against a real kitaru dev,
// and checks the schema each saved, and flow deployments get shows, is the
// shared one.
func TestInputContractIsTheSameOnEverySurface(t *testing.T) {
	startKitaruDev(t)
	cs := mcptest.Connect(t, cli.NewMCPServer())
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "signatures"))
	file := filepath.Join(root, "flows", "signatures.py")
	for name, want := range sharedSchemas(t) {
		t.Run(name, func(t *testing.T) {
			var out struct{ Item registry.Deployment }
			if err := json.Unmarshal([]byte(mustKitaru(t, "deploy", file+":"+name, "-o", "json")), &out); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, decoded(t, out.Item.InputSchema)); diff != "" {
				t.Errorf("kitaru deploy saved (-want +got):\n%s", diff)
			}
			d := mcptest.Call[registry.Deployment](t, cs, mcpserver.ToolDeploy, map[string]any{"target": file + ":" + name})
			if diff := cmp.Diff(want, decoded(t, d.InputSchema)); diff != "" {
				t.Errorf("the MCP deploy tool saved (-want +got):\n%s", diff)
			}
			var got struct{ Item registry.Deployment }
			if err := json.Unmarshal([]byte(mustKitaru(t, "flow", "deployments", "get", name, "--version", "2", "-o", "json")), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, decoded(t, got.Item.InputSchema)); diff != "" {
				t.Errorf("flow deployments get -o json shows (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("flow deployments get describes the parameters", func(t *testing.T) {
		out := mustKitaru(t, "flow", "deployments", "get", "literals", "--version", "1")
		for _, want := range []string{
			`Input schema: mode   one of "fast", "slow"  default "fast"`,
			`level  one of 1, 2, -3, null  default null`,
			`weird  any                   optional`,
			`(other inputs are refused)`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// TestBareDeployTakesTheSignaturesInputs is issue 13's terminal story: a
// deploy with no --input, then invokes that pass and override the
// function's parameters; a function the file lacks is refused; inputs that
// do not fit the signature are refused naming the keys, starting nothing.
func TestBareDeployTakesTheSignaturesInputs(t *testing.T) {
	startKitaruDev(t)
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "signatures"))
	file := filepath.Join(root, "flows", "signatures.py")

	if out := mustKitaru(t, "deploy", file+":greet"); !strings.Contains(out, "Deployed greet version 1") {
		t.Fatalf("deploy: %s", out)
	}
	out := mustKitaru(t, "invoke", "greet", "--input", `{"name": "bob", "n": 2}`, "--wait")
	if !strings.Contains(out, `"hi bobhi bob"`) {
		t.Errorf("invoke with name and n: %s", out)
	}
	if out := mustKitaru(t, "invoke", "greet", "--wait"); !strings.Contains(out, `"hi world"`) {
		t.Errorf("invoke with the defaults: %s", out)
	}

	exit, _, stderr := kitaru(t, "deploy", file+":nosuch")
	if exit != cli.ExitError || !strings.Contains(stderr, `has no module-level function "nosuch"`) || !strings.Contains(stderr, "greet") {
		t.Errorf("deploy nosuch: exit %d, stderr %q", exit, stderr)
	}
	if exit, _, _ := kitaru(t, "flow", "deployments", "get", "nosuch", "--version", "1"); exit != cli.ExitError {
		t.Errorf("nosuch was saved (get exits %d)", exit)
	}

	for _, c := range []struct{ name, args, want string }{
		{"an unknown input", `{"nmae": "bob"}`, `"nmae"`},
		{"a wrong type", `{"n": "two"}`, `n`},
	} {
		exit, _, stderr := kitaru(t, "invoke", "greet", "--input", c.args)
		if exit != cli.ExitError || !strings.Contains(stderr, "unprocessable") && !strings.Contains(stderr, c.want) {
			t.Errorf("invoke with %s: exit %d, stderr %q", c.name, exit, stderr)
		}
	}
	mustKitaru(t, "deploy", file+":scalars")
	exit, _, stderr = kitaru(t, "invoke", "scalars", "--input", `{"text": "x"}`)
	if exit != cli.ExitError || !strings.Contains(stderr, "count") || !strings.Contains(stderr, "flag") {
		t.Errorf("invoke missing required inputs: exit %d, stderr %q", exit, stderr)
	}
	exit, _, stderr = kitaru(t, "deploy", file+":greet", "--input", `{"nmae": "bob"}`)
	if exit != cli.ExitError || !strings.Contains(stderr, `nmae`) {
		t.Errorf("deploy with an unknown input: exit %d, stderr %q", exit, stderr)
	}
	if out := mustKitaru(t, "executions", "list", "scalars"); strings.Contains(out, "ex_") {
		t.Errorf("a refused invoke started an execution:\n%s", out)
	}
	if out := mustKitaru(t, "executions", "list", "greet"); !strings.Contains(out, "ex_") {
		t.Errorf("the list shows no execution id even where runs happened:\n%s", out)
	}
}

// TestDeployWithoutPythonGoesAheadWithoutASchema: no interpreter, no
// schema, and the deploy says so; --input-schema still sets one.
func TestDeployWithoutPythonGoesAheadWithoutASchema(t *testing.T) {
	startKitaruDev(t)
	t.Setenv("KITARU_PYTHON", filepath.Join(t.TempDir(), "no-python"))
	root := copyDir(t, filepath.Join("..", "..", "testdata", "flows", "signatures"))
	file := filepath.Join(root, "flows", "signatures.py")

	exit, stdout, stderr := kitaru(t, "deploy", file+":greet", "-o", "json")
	var out struct{ Item registry.Deployment }
	if exit != cli.ExitOK || json.Unmarshal([]byte(stdout), &out) != nil || out.Item.InputSchema != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
	}
	if !strings.Contains(stderr, "python3 not found") || !strings.Contains(stderr, "--input-schema") {
		t.Errorf("the deploy did not say it has no schema: %q", stderr)
	}
	schema := filepath.Join(root, "schema.json")
	os.WriteFile(schema, []byte(`{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}`), 0o644)
	exit, stdout, stderr = kitaru(t, "deploy", file+":greet", "--input-schema", "@"+schema, "-o", "json")
	if exit != cli.ExitOK || json.Unmarshal([]byte(stdout), &out) != nil || !strings.Contains(string(out.Item.InputSchema), `"required"`) {
		t.Fatalf("with --input-schema: exit %d, stdout %q, stderr %q", exit, stdout, stderr)
	}
}
