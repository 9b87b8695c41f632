package storetest

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

// build saves a version of flow without a routing tag (`kitaru build`).
func build(t *testing.T, f *fixture, flow string) registry.Deployment {
	t.Helper()
	d, err := f.store.Deploy(ctx, registry.DeployRequest{
		Project: project, Flow: flow, Entrypoint: "flows/research.py:" + flow,
		Inputs: json.RawMessage(`{"topic": "builds"}`), Build: true, Stack: "dev", By: "tester",
	})
	if err != nil {
		t.Fatalf("build %s: %v", flow, err)
	}
	return d
}

func testBuilds(t *testing.T, f *fixture) {
	t.Run("a flow's first build gets default, since default exists once a version does", func(t *testing.T) {
		d := build(t, f, "b1")
		if d.Version != 1 || !cmp.Equal(d.Tags, map[string]bool{"default": true}) {
			t.Fatalf("first build: v%d tags %v, want v1 {default: true}", d.Version, d.Tags)
		}
		if v, err := resolveTag(t, f, "b1", "default"); err != nil || v != 1 {
			t.Fatalf("default resolves to %d, %v; want 1", v, err)
		}
	})
	t.Run("a later build gets the next number and no tag, and routing stays where it was", func(t *testing.T) {
		deploy(t, f, "b2", "", false)
		canary := deploy(t, f, "b2", "canary", true)
		before, err := f.store.GetFlow(ctx, project, "b2")
		if err != nil {
			t.Fatal(err)
		}
		d := build(t, f, "b2")
		// Under injected faults a lost answer may burn a number, so only
		// the order is checked.
		if d.Version <= canary.Version || len(d.Tags) != 0 || d.Tags == nil {
			t.Fatalf("build: v%d tags %#v, want a version above %d and an empty tag map", d.Version, d.Tags, canary.Version)
		}
		if got := tagsOf(t, f, "b2", d.Version); len(got) != 0 {
			t.Fatalf("the built version reads back with tags %v", got)
		}
		after, err := f.store.GetFlow(ctx, project, "b2")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before.Tags, after.Tags); diff != "" {
			t.Errorf("a build changed the routes (-before +after):\n%s", diff)
		}
		if after.LatestVersion != d.Version || after.DeploymentCount != 3 {
			t.Errorf("summary after the build: latest %d count %d, want %d and 3", after.LatestVersion, after.DeploymentCount, d.Version)
		}
		for _, tag := range []string{"default", "canary"} {
			h, err := f.store.TagHistory(ctx, project, "b2", tag, registry.PageRequest{})
			if err != nil || len(h.Items) == 0 || h.Items[0].Action != registry.ActionDeploy || *h.Items[0].To == d.Version {
				t.Errorf("history of %s after a build: %+v %v; want no record of version 3", tag, h.Items, err)
			}
		}
	})
	t.Run("a built version is promoted later with a tag move", func(t *testing.T) {
		deploy(t, f, "b3", "", false)
		d := build(t, f, "b3")
		tg := mustTag(t, f, "b3", "default", d.Version, true)
		if !cmp.Equal(tg.Versions, []int{d.Version}) {
			t.Fatalf("default after promotion: %v, want [%d]", tg.Versions, d.Version)
		}
		if v, err := resolveTag(t, f, "b3", "default"); err != nil || v != d.Version {
			t.Fatalf("default resolves to %d, %v; want %d", v, err, d.Version)
		}
	})
	t.Run("a built version can be deleted, since it holds no tag", func(t *testing.T) {
		deploy(t, f, "b4", "", false)
		d := build(t, f, "b4")
		if err := f.store.DeleteDeployment(ctx, project, "b4", d.Version, "tester"); err != nil {
			t.Fatalf("delete the build: %v", err)
		}
	})
	t.Run("a build naming a tag is invalid and allocates nothing", func(t *testing.T) {
		first := deploy(t, f, "b5", "", false)
		_, err := f.store.Deploy(ctx, registry.DeployRequest{
			Project: project, Flow: "b5", Entrypoint: "flows/research.py:b5", Build: true, Tag: "canary", Stack: "dev", By: "tester",
		})
		wantCode(t, err, registry.CodeInvalidArgument, "tag")
		if s, err := f.store.GetFlow(ctx, project, "b5"); err != nil || s.LatestVersion != first.Version || s.DeploymentCount != 1 {
			t.Fatalf("after the refused build: %+v %v; want only version %d", s, err, first.Version)
		}
	})
}
