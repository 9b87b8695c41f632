package cli_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestBuildSavesAVersionWithoutRoutingIt runs kitaru build against a real
// kitaru dev: the first build gets default, later ones no tag, and flow tag
// promotes one.
func TestBuildSavesAVersionWithoutRoutingIt(t *testing.T) {
	startKitaruDev(t)
	root := newProject(t)
	target := filepath.Join(root, "flows", "research.py") + ":research_agent"

	first := itemOf[registry.Deployment](t, "build", mustKitaru(t, "build", target, "--input", `{"topic": "builds"}`, "-o", "json"))
	t.Run("the first build gets default", func(t *testing.T) {
		if first.Version != 1 || len(first.Tags) != 1 || !first.Tags["default"] {
			t.Errorf("first build v%d tags %v; want v1 {default}", first.Version, first.Tags)
		}
	})
	text := mustKitaru(t, "build", target, "--description", "unrouted")
	t.Run("a later build says it routes no tag and how to route one", func(t *testing.T) {
		for _, want := range []string{"Built research_agent version 2", "tags:       (none)", "kitaru invoke research_agent --version 2", "kitaru flow tag research_agent default --version 2 --exclusive"} {
			if !strings.Contains(text, want) {
				t.Errorf("stdout %q lacks %q", text, want)
			}
		}
	})
	t.Run("the build has the bundle, inputs and description a deploy records", func(t *testing.T) {
		d := itemOf[registry.Deployment](t, "flow deployments get", mustKitaru(t, "flow", "deployments", "get", "research_agent", "--version", "2", "-o", "json"))
		if len(d.Tags) != 0 || d.Source == nil || d.Source.Digest == "" || d.Description != "unrouted" || d.Entrypoint != "flows/research.py:research_agent" {
			t.Errorf("deployment %+v", d)
		}
	})
	t.Run("default stays on the first version until flow tag moves it", func(t *testing.T) {
		sum := itemOf[registry.FlowSummary](t, "flow show", mustKitaru(t, "flow", "show", "research_agent", "-o", "json"))
		if sum.DefaultVersion == nil || *sum.DefaultVersion != 1 || sum.LatestVersion != 2 {
			t.Fatalf("summary %+v; want default on 1, latest 2", sum)
		}
		tag := itemOf[registry.Tag](t, "flow tag", mustKitaru(t, "flow", "tag", "research_agent", "default", "--version", "2", "--exclusive", "-o", "json"))
		if len(tag.Versions) != 1 || tag.Versions[0] != 2 {
			t.Errorf("default after promotion %+v; want [2]", tag)
		}
	})
	t.Run("build takes no routing tag flag", func(t *testing.T) {
		exit, _, stderr := kitaru(t, "build", target, "--tag", "canary")
		if exit == cli.ExitOK || !strings.Contains(stderr, "--tag") {
			t.Errorf("exit %d stderr %q; want a usage error naming --tag", exit, stderr)
		}
	})
}
