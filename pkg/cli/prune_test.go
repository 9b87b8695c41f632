package cli_test

import (
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestFlowPruneOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	target := deployResearch(t)                                               // 1: default, 2: canary (exclusive)
	mustKitaru(t, "deploy", target, "--input", `{"topic": "durable agents"}`) // 3: default
	mustKitaru(t, "deploy", target, "--input", `{"topic": "durable agents"}`) // 4: default

	for name, args := range map[string][]string{
		"--keep is required":           {"flow", "prune", "research_agent"},
		"--keep is at least 1":         {"flow", "prune", "research_agent", "--keep", "0"},
		"--older-than is an age":       {"flow", "prune", "research_agent", "--keep", "1", "--older-than", "a month"},
		"a flow name is required once": {"flow", "prune", "--keep", "1"},
	} {
		t.Run(name+" (usage error)", func(t *testing.T) {
			if exit, stdout, _ := kitaru(t, args...); exit != cli.ExitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want a usage error", exit, stdout)
			}
		})
	}
	t.Run("--dry-run prints the plan and deletes nothing", func(t *testing.T) {
		out := mustKitaru(t, "flow", "prune", "research_agent", "--keep", "1", "--dry-run")
		for _, want := range []string{
			"Would delete (dry run, nothing deleted) from flow research_agent: versions 1, 3\n",
			"  2        routed  tags canary\n",
			"  4        routed  tags default\n",
			"kept: version research_agent:4 uses it.\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		mustKitaru(t, "flow", "deployments", "get", "research_agent", "--version", "1")
	})
	t.Run("--older-than keeps young versions, saying so", func(t *testing.T) {
		p := itemOf[registry.Pruning](t, "flow prune", mustKitaru(t, "flow", "prune", "research_agent", "--keep", "1", "--older-than", "30d", "-o", "json"))
		if len(p.Deleted) != 0 || p.OlderThan != "30d" || len(p.Kept) != 4 || p.Kept[0].Reason != registry.KeptTooYoung {
			t.Errorf("pruning %+v", p)
		}
	})
	t.Run("a prune that deletes nothing says so in words", func(t *testing.T) {
		out := mustKitaru(t, "flow", "prune", "research_agent", "--keep", "1", "--older-than", "30d")
		if want := "Nothing deleted from flow research_agent: every version is kept (below).\n"; !strings.HasPrefix(out, want) {
			t.Errorf("stdout %q does not start %q", out, want)
		}
	})
	t.Run("-o json answers what was deleted and kept", func(t *testing.T) {
		p := itemOf[registry.Pruning](t, "flow prune", mustKitaru(t, "flow", "prune", "research_agent", "--keep", "1", "-o", "json"))
		if p.DryRun || len(p.Deleted) != 2 || p.Deleted[0].Version != 1 || p.Deleted[1].Version != 3 || len(p.Kept) != 2 {
			t.Errorf("pruning %+v", p)
		}
		// Every version used the same bundle, and versions 2 and 4 still do.
		if len(p.Bundles) != 1 || p.Bundles[0].Deleted || p.Bundles[0].Reason != registry.BundleShared {
			t.Errorf("bundles %+v", p.Bundles)
		}
		exit, _, _ := kitaru(t, "flow", "deployments", "get", "research_agent", "--version", "1")
		if exit != cli.ExitError {
			t.Errorf("version 1 is still there: exit %d", exit)
		}
	})
	t.Run("a flow that does not exist is not_found", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "prune", "nothing_here", "--keep", "1", "-o", "json")
		if e := errorOf(t, "flow prune", stderr); exit != cli.ExitError || e.Code != registry.CodeNotFound {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
}
