package api_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/kitaru/deployments"

// goImports runs `go list -deps` over the module and returns each of its
// packages with the packages it imports directly (tests excluded). It skips
// the test when the go command is missing.
func goImports(t *testing.T) map[string][]string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(goCmd, "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) > 0 && (fields[0] == module || strings.HasPrefix(fields[0], module+"/")) {
			imports[fields[0]] = fields[1:]
		}
	}
	return imports
}

// TestOnlyTheWiringImportsTheHTTPAdapter is issue 14's acceptance rule: the
// client, CLI, MCP server and adapters reach the wire types through pkg/api,
// so only the Lambda handlers and the packages that wire the server import
// pkg/httpapi; the domain imports nothing of the module; and pkg/api
// imports only the domain (no AWS, no Lambda types).
func TestOnlyTheWiringImportsTheHTTPAdapter(t *testing.T) {
	imports := goImports(t)
	if len(imports) == 0 {
		t.Fatal("go list found none of the module's packages")
	}
	mayImportHTTPAPI := []string{module + "/pkg/lambdaenv", module + "/pkg/devstack", module + "/pkg/service"}
	for pkg, deps := range imports {
		rel := strings.TrimPrefix(pkg, module+"/")
		if !strings.HasPrefix(rel, "pkg/") || strings.HasPrefix(rel, "pkg/httpapi") || slices.Contains(mayImportHTTPAPI, pkg) {
			continue // functions/*, cmd/* and the adapter itself
		}
		for _, d := range deps {
			if d == module+"/pkg/httpapi" || strings.HasPrefix(d, module+"/pkg/httpapi/") {
				t.Errorf("%s imports %s; take the wire types from pkg/api, or wire it in pkg/service", rel, d)
			}
		}
	}
	for _, d := range imports[module+"/pkg/registry"] {
		if strings.HasPrefix(d, module+"/") {
			t.Errorf("pkg/registry imports %s; the domain imports nothing of the module", d)
		}
	}
	for _, d := range imports[module+"/pkg/api"] {
		if strings.HasPrefix(d, module+"/") && d != module+"/pkg/registry" || strings.Contains(d, "aws") {
			t.Errorf("pkg/api imports %s; it may import only the domain and the standard library", d)
		}
	}
}
