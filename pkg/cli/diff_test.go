package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestFlowDiffOnKitaruDev(t *testing.T) {
	startKitaruDev(t)
	target := deployResearch(t) // 1: default, 2: canary, one bundle
	root := strings.TrimSuffix(target, filepath.Join("flows", "research.py")+":research_agent")
	notes := filepath.Join(root, "flows", "notes.py")
	if err := os.WriteFile(notes, []byte("def format_notes(topic: str) -> str:\n    return f\"notes: {topic}\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	research := filepath.Join(root, "flows", "research.py")
	src, err := os.ReadFile(research)
	if err != nil {
		t.Fatal(err)
	}
	src = []byte(strings.Replace(string(src), "def research_agent(topic: str)", "def research_agent(topic: str, depth: int = 1)", 1))
	if err := os.WriteFile(research, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "logo.png"), []byte("\x89PNG\x00\x01"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustKitaru(t, "deploy", target, "--tag", "stable", "--exclusive", "--input", `{"topic": "routing", "depth": 2}`, "--description", "shorter notes")

	t.Run("text names what each side resolved to, the changes, and the unified diff", func(t *testing.T) {
		out := mustKitaru(t, "flow", "diff", "research_agent", "1", "stable")
		for _, want := range []string{
			"Diff of research_agent: version 1 -> stable (version 3)\n",
			"  description: (none) -> shorter notes\n",
			"  + depth: 2\n",
			`  ~ topic: "durable agents" -> "routing"` + "\n",
			"Input schema:\n  + depth (integer, default 1)\n",
			"Source: 1 added, 0 removed, 2 modified,",
			"  + logo.png: binary sha256:",
			"--- a/flows/notes.py\n+++ b/flows/notes.py\n",
			"+    return f\"notes: {topic}\"\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("stdout lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("the same version twice has no differences", func(t *testing.T) {
		if out := mustKitaru(t, "flow", "diff", "research_agent", "canary", "2"); out != "Diff of research_agent: canary (version 2) -> version 2\nNo differences.\n" {
			t.Errorf("stdout %q", out)
		}
	})
	t.Run("-o json is the structured diff, narrowed by --path", func(t *testing.T) {
		d := itemOf[api.DeploymentDiff](t, "flow diff", mustKitaru(t, "flow", "diff", "research_agent", "default", "stable", "--path", "flows", "-o", "json"))
		if d.From.Version != 1 || d.To.Version != 3 || d.Source.Path != "flows" || len(d.Source.Files) != 2 || d.Source.Files[0].Path != "flows/notes.py" {
			t.Errorf("diff %+v → %+v, source %+v", d.From, d.To, d.Source)
		}
	})
	t.Run("an unknown tag is not_found with the hint to see the tags", func(t *testing.T) {
		exit, stdout, stderr := kitaru(t, "flow", "diff", "research_agent", "1", "nightly")
		if exit != cli.ExitError || stdout != "" || !strings.Contains(stderr, "kitaru flow show research_agent") {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
		exit, _, stderr = kitaru(t, "flow", "diff", "research_agent", "1", "9", "-o", "json")
		if e := errorOf(t, "flow diff", stderr); exit != cli.ExitError || e.Code != registry.CodeNotFound || e.Details[registry.DetailReason] != registry.ReasonVersionNotFound {
			t.Errorf("exit %d, error %+v", exit, e)
		}
	})
	t.Run("a split tag's side says it is split and which member was picked", func(t *testing.T) {
		mustKitaru(t, "flow", "tag", "research_agent", "live", "--split", "1=50,3=50")
		d := itemOf[api.DeploymentDiff](t, "flow diff", mustKitaru(t, "flow", "diff", "research_agent", "live", "2", "-o", "json"))
		if !d.From.Split.Equal(registry.Split{1: 50, 3: 50}) || (d.From.Version != 1 && d.From.Version != 3) {
			t.Errorf("from %+v; want the split and one of its members", d.From)
		}
		out := mustKitaru(t, "flow", "diff", "research_agent", "live", "2")
		if want := "(split 1=50,3=50: version "; !strings.Contains(out, want) || !strings.Contains(out, "picked by weight") {
			t.Errorf("stdout %q does not say the tag is split and a member was picked", out)
		}
	})
	t.Run("A and B are both required", func(t *testing.T) {
		if exit, _, _ := kitaru(t, "flow", "diff", "research_agent", "1"); exit == 0 {
			t.Errorf("exit %d; want a usage error", exit)
		}
	})
}
