package cli_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestExecutionsListByRouteOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t) // 1: default, 2: canary (exclusive)
	mustKitaru(t, "invoke", "research_agent", "--tag", "canary", "--wait")
	mustKitaru(t, "invoke", "research_agent", "--version", "2", "--wait")
	mustKitaru(t, "invoke", "research_agent", "--wait")

	list := func(t *testing.T, args ...string) []registry.Execution {
		t.Helper()
		out := mustKitaru(t, append([]string{"executions", "list", "research_agent", "-o", "json"}, args...)...)
		return itemsOf[registry.Execution](t, "executions list", out)
	}
	selectors := func(execs []registry.Execution) []string {
		var s []string
		for _, e := range execs {
			s = append(s, e.Selector.String())
		}
		return s
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"every execution, newest first", nil, []string{"tag default", "version 2", "tag canary"}},
		{"--tag keeps those invoked through the tag", []string{"--tag", "canary"}, []string{"tag canary"}},
		{"--version keeps those that ran the version, however invoked", []string{"--version", "2"}, []string{"version 2", "tag canary"}},
		{"--status and --since narrow further", []string{"--status", "completed", "--since", "1h"}, []string{"tag default", "version 2", "tag canary"}},
		{"--since a time after every start lists none", []string{"--since", "2999-01-01T00:00:00Z"}, nil},
		{"--status failed lists none here", []string{"--status", "failed"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := selectors(list(t, tt.args...)); !slices.Equal(got, tt.want) {
				t.Errorf("selectors %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("the text table says what it lists", func(t *testing.T) {
		out := mustKitaru(t, "executions", "list", "research_agent", "--tag", "canary")
		if !strings.Contains(out, "tag canary") || strings.Contains(out, "tag default") {
			t.Errorf("stdout %q", out)
		}
	})
	for _, args := range [][]string{{"--version", "2", "--tag", "canary"}, {"--status", "done"}, {"--since", "yesterday"}, {"--version", "0"}} {
		t.Run("a usage error: "+strings.Join(args, " "), func(t *testing.T) {
			exit, stdout, stderr := kitaru(t, append([]string{"executions", "list", "research_agent"}, args...)...)
			if exit != cli.ExitUsage || stdout != "" || stderr == "" {
				t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
			}
		})
	}
}
