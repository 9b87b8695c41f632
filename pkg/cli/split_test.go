package cli_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestFlowTagSplitOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	deployResearch(t)

	t.Run("--split points an exclusive tag at two versions by weight", func(t *testing.T) {
		out := mustKitaru(t, "flow", "tag", "research_agent", "live", "--split", "1=90,2=10")
		if want := "Tagged: live* of research_agent now points at versions 1 (90%) and 2 (10%) (exclusive, revision 1)\n"; out != want {
			t.Errorf("stdout %q, want %q", out, want)
		}
		tag := itemOf[registry.Tag](t, "flow tag get", mustKitaru(t, "flow", "tag", "get", "research_agent", "live", "-o", "json"))
		if !tag.Split.Equal(registry.Split{1: 90, 2: 10}) {
			t.Errorf("tag %+v", tag)
		}
		if out := mustKitaru(t, "flow", "show", "research_agent"); !strings.Contains(out, "split 1=90,2=10") {
			t.Errorf("flow show %q does not show the split", out)
		}
	})
	t.Run("an invalid split, or one beside --version, is a usage error before any request", func(t *testing.T) {
		for _, args := range [][]string{
			{"flow", "tag", "research_agent", "live", "--split", "1=90,2=20"},
			{"flow", "tag", "research_agent", "live", "--split", "1=90"},
			{"flow", "tag", "research_agent", "live", "--split", "1=90,2=10", "--version", "1"},
			{"flow", "tag", "research_agent", "live", "--split", "1=90,2=10", "--exclusive=false"}, // a split is exclusive; not silently
		} {
			if exit, _, stderr := kitaru(t, args...); exit != cli.ExitUsage {
				t.Errorf("%v: exit %d, stderr %q", args, exit, stderr)
			}
		}
	})
	t.Run("a move collapses the split; history shows both; rollback restores it", func(t *testing.T) {
		mustKitaru(t, "flow", "tag", "research_agent", "live", "--version", "2", "--exclusive")
		out := mustKitaru(t, "flow", "history", "research_agent", "live")
		for _, want := range []string{"split 1=90,2=10 → 2", "- → split 1=90,2=10"} {
			if !strings.Contains(out, want) {
				t.Errorf("history %q lacks %q", out, want)
			}
		}
		out = mustKitaru(t, "flow", "rollback", "research_agent", "live")
		if !strings.Contains(out, "versions 1 (90%) and 2 (10%)") {
			t.Errorf("rollback said %q", out)
		}
	})
	t.Run("untagging one version of the split says how to change it", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "flow", "untag", "research_agent", "live", "--version", "2")
		if exit != cli.ExitError || !strings.Contains(stderr, "--split V=W") {
			t.Errorf("exit %d, stderr %q", exit, stderr)
		}
	})
	t.Run("a pinned curl command states the split and pins the version picked for the sticky key", func(t *testing.T) {
		want := registry.Split{1: 90, 2: 10}.Pick(registry.StickyBucket("research_agent", "live", "user-9"))
		out := mustKitaru(t, "flow", "deployments", "curl", "research_agent", "--tag", "live", "--sticky-key", "user-9")
		if !strings.Contains(out, "is split 1=90,2=10") || !strings.Contains(out, "/versions/"+strconv.Itoa(want)+"/invocations") {
			t.Errorf("curl %q, want the split stated and version %d pinned", out, want)
		}
		out = mustKitaru(t, "flow", "deployments", "curl", "research_agent", "--tag", "live", "--follow-route")
		if !strings.Contains(out, "the server picks a version by weight") || strings.Contains(out, "/versions/") {
			t.Errorf("curl --follow-route %q", out)
		}
	})
}
