package cli_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestFlowDeleteOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	target := deployResearch(t) // 1: default, 2: canary (exclusive)

	t.Run("a flow with an exclusive tag besides default is refused, naming the tag and --force", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "flow", "delete", "research_agent")
		if exit != cli.ExitError || stdout != "" || !strings.Contains(stderr, "canary") || !strings.HasSuffix(stderr, "kitaru flow delete research_agent --force\n") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		exit, _, stderr = kitaru(t, "flow", "delete", "research_agent", "-o", "json")
		if e := errorOf(t, "flow delete", stderr); exit != cli.ExitError || e.Code != registry.CodeConflict || e.Details[registry.DetailReason] != registry.ReasonFlowHasRoutes {
			t.Errorf("exit %d, error %+v", exit, e)
		}
		mustKitaru(t, "flow", "show", "research_agent")
	})
	t.Run("--force deletes and says which routes went with it", func(t *testing.T) {
		out := mustKitaru(t, "flow", "delete", "research_agent", "--force")
		for _, want := range []string{"Deleted flow research_agent: versions 1, 2\n", "Removed tags (--force): canary -> 2, default -> 1\n", "starts at version 3"} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout %q lacks %q", out, want)
			}
		}
		exit, _, _ := kitaru(t, "flow", "show", "research_agent")
		if exit != cli.ExitError {
			t.Errorf("flow show after delete: exit %d", exit)
		}
	})
	t.Run("-o json answers the deletion, and a re-deploy continues the numbers", func(t *testing.T) {
		mustKitaru(t, "deploy", target, "--input", `{"topic": "durable agents"}`)
		d := itemOf[registry.FlowDeletion](t, "flow delete", mustKitaru(t, "flow", "delete", "research_agent", "-o", "json"))
		if d.Forced || !slices.Equal(d.Versions, []int{3}) || d.NextVersion != 4 {
			t.Errorf("deletion %+v", d)
		}
	})
	t.Run("a flow that does not exist is not_found", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "flow", "delete", "research_agent", "-o", "json")
		if e := errorOf(t, "flow delete", stderr); exit != cli.ExitError || stdout != "" || e.Code != registry.CodeNotFound {
			t.Errorf("exit %d, stdout %q, error %+v", exit, stdout, e)
		}
	})
}
