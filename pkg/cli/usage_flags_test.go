package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

// Conflicting or impossible flags are usage errors (exit 2) found before
// any request, with a message that says which flags to pass.
func TestConflictingFlagsAreUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"deployments logs with --version 0", []string{"flow", "deployments", "logs", "research_agent", "--version", "0"}, "versions start at 1"},
		{"deployments logs with a negative --version", []string{"flow", "deployments", "logs", "research_agent", "--version", "-2"}, "versions start at 1"},
		{"deployments logs with --tag and --version", []string{"flow", "deployments", "logs", "research_agent", "--tag", "stable", "--version", "2"}, "pass either --tag or --version, not both"},
		{"invoke with --tag and --version", []string{"invoke", "research_agent", "--tag", "stable", "--version", "2"}, "pass either --tag or --version, not both"},
		{"secrets set with --from-env and --value-file", []string{"secrets", "set", "OPENAI_API_KEY", "--from-env", "HOME", "--value-file", "/dev/null"}, "pass either --from-env or --value-file, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, output := range []string{"text", "json"} {
				exit, stdout, stderr := kitaru(t, append(tt.args, "-o", output)...)
				if exit != cli.ExitUsage || stdout != "" || !strings.Contains(stderr, tt.want) {
					t.Errorf("-o %s: exit %d, stdout %q, stderr %q; want exit %d naming %q", output, exit, stdout, stderr, cli.ExitUsage, tt.want)
				}
			}
		})
	}
}

// A value file over the limit is refused before any request, by what the
// file holds rather than by how much of it was read.
func TestSecretsSetRefusesAnOversizedValueFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.key")
	if err := os.WriteFile(file, bytes.Repeat([]byte("a"), 40000), 0o600); err != nil {
		t.Fatal(err)
	}
	exit, stdout, stderr := kitaru(t, "secrets", "set", "BIG_KEY", "--value-file", file, "-o", "json")
	e := errorOf(t, "secrets set", stderr)
	if exit != cli.ExitError || stdout != "" || e.Code != registry.CodePayloadTooLarge ||
		!strings.Contains(e.Message, "more than 32 KiB") || strings.Contains(e.Message, "32770") {
		t.Errorf("exit %d, stdout %q, error %+v", exit, stdout, e)
	}
}
