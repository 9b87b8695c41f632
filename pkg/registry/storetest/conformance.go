package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

const project = "proj"

var ctx = context.Background()

func deploy(t *testing.T, f *fixture, flow, tag string, exclusive bool) registry.Deployment {
	t.Helper()
	d, err := f.store.Deploy(ctx, registry.DeployRequest{
		Project: project, Flow: flow, Entrypoint: "flows/research.py:" + flow,
		Inputs: json.RawMessage(`{"topic": "durable execution"}`), Tag: tag, Exclusive: exclusive, Stack: "dev", By: "tester",
	})
	if err != nil {
		t.Fatalf("deploy %s tag=%q: %v", flow, tag, err)
	}
	return d
}

func putTag(f *fixture, flow, tag string, version int, exclusive bool) (registry.Tag, error) {
	return f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: version, Exclusive: exclusive, By: "tester"})
}

func mustTag(t *testing.T, f *fixture, flow, tag string, version int, exclusive bool) registry.Tag {
	t.Helper()
	tg, err := putTag(f, flow, tag, version, exclusive)
	if err != nil {
		t.Fatalf("tag %s %s -> %d: %v", flow, tag, version, err)
	}
	return tg
}

func resolveTag(t *testing.T, f *fixture, flow, tag string) (int, error) {
	t.Helper()
	r, err := f.store.Resolve(ctx, project, flow, registry.Selector{Tag: tag})
	return r.Deployment.Version, err
}

func wantCode(t *testing.T, err error, code registry.Code, msgParts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var re *registry.Error
	if !errors.As(err, &re) || re.Code != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
	for _, p := range msgParts {
		if !strings.Contains(re.Message, p) {
			t.Errorf("message %q does not mention %q", re.Message, p)
		}
	}
}

func tagsOf(t *testing.T, f *fixture, flow string, version int) map[string]bool {
	t.Helper()
	d, err := f.store.GetDeployment(ctx, project, flow, version)
	if err != nil {
		t.Fatalf("get %s v%d: %v", flow, version, err)
	}
	return d.Tags
}

func testDeployRules(t *testing.T, f *fixture) {
	t.Run("the first deploy becomes version 1 and gets default", func(t *testing.T) {
		d := deploy(t, f, "first", "", false)
		if d.Version != 1 || d.Snapshot != "kitaru::first::v1" {
			t.Fatalf("got version %d snapshot %q", d.Version, d.Snapshot)
		}
		if diff := cmp.Diff(map[string]bool{"default": true}, tagsOf(t, f, "first", 1)); diff != "" {
			t.Fatalf("tags (-want +got):\n%s", diff)
		}
	})
	t.Run("plain deploys move default to the new version", func(t *testing.T) {
		deploy(t, f, "plain", "", false)
		d := deploy(t, f, "plain", "", false)
		if d.Version != 2 || !d.Tags["default"] {
			t.Fatalf("got %+v", d)
		}
		if len(tagsOf(t, f, "plain", 1)) != 0 {
			t.Fatalf("v1 still holds tags %v", tagsOf(t, f, "plain", 1))
		}
		if v, err := resolveTag(t, f, "plain", ""); err != nil || v != 2 {
			t.Fatalf("default resolves to %d, %v", v, err)
		}
	})
	t.Run("a canary deploy moves only canary and leaves default", func(t *testing.T) {
		deploy(t, f, "canaried", "", false)
		deploy(t, f, "canaried", "canary", true)
		d := deploy(t, f, "canaried", "canary", true)
		if diff := cmp.Diff(map[string]bool{"canary": true}, d.Tags); diff != "" {
			t.Fatalf("v3 tags (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]bool{}, tagsOf(t, f, "canaried", 2)); diff != "" {
			t.Fatalf("v2 tags (-want +got):\n%s", diff)
		}
		if v, _ := resolveTag(t, f, "canaried", "default"); v != 1 {
			t.Fatalf("default resolves to %d, want 1", v)
		}
	})
	t.Run("every deploy attaches exactly one routing tag, plus default on the first", func(t *testing.T) {
		if d := deploy(t, f, "onetag", "bench", false); len(d.Tags) != 2 || d.Tags["bench"] || !d.Tags["default"] {
			t.Fatalf("first deploy tags %v", d.Tags)
		}
		if d := deploy(t, f, "onetag", "bench", false); len(d.Tags) != 1 || d.Tags["bench"] {
			t.Fatalf("second deploy tags %v", d.Tags)
		}
	})
	t.Run("default is always exclusive, also when asked for shared", func(t *testing.T) {
		deploy(t, f, "coerced", "default", false)
		deploy(t, f, "coerced", "", false)
		tg := mustTag(t, f, "coerced", "default", 1, false)
		if !tg.Exclusive || !cmp.Equal(tg.Versions, []int{1}) {
			t.Fatalf("got %+v", tg)
		}
		if diff := cmp.Diff(map[string]bool{}, tagsOf(t, f, "coerced", 2)); diff != "" {
			t.Fatalf("v2 tags:\n%s", diff)
		}
	})
	t.Run("deleting the highest version and deploying again gives a higher number", func(t *testing.T) {
		deploy(t, f, "noreuse", "", false)
		deploy(t, f, "noreuse", "exp", false)
		if err := f.store.DeleteDeployment(ctx, project, "noreuse", 2, "tester"); err != nil {
			t.Fatal(err)
		}
		if d := deploy(t, f, "noreuse", "exp", false); d.Version != 3 {
			t.Fatalf("got version %d, want 3", d.Version)
		}
	})
	t.Run("each flow has its own version sequence", func(t *testing.T) {
		deploy(t, f, "seq_a", "", false)
		deploy(t, f, "seq_a", "", false)
		if d := deploy(t, f, "seq_b", "", false); d.Version != 1 {
			t.Fatalf("got %d", d.Version)
		}
	})
	t.Run("a deploy whose routing tag is held in the other mode is refused and allocates nothing", func(t *testing.T) {
		deploy(t, f, "modes", "", false)
		deploy(t, f, "modes", "bench", false)
		_, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: "modes", Entrypoint: "f.py:modes", Tag: "bench", Exclusive: true, Stack: "dev"})
		wantCode(t, err, registry.CodeConflict, "bench", "shared")
		if d := deploy(t, f, "modes", "", false); d.Version != 3 {
			t.Fatalf("next version is %d, want 3 (no number burned)", d.Version)
		}
	})
}

func testTagRules(t *testing.T, f *fixture) {
	deploy(t, f, "r", "", false)
	deploy(t, f, "r", "canary", true)
	deploy(t, f, "r", "canary", true) // v3

	t.Run("moving an exclusive tag takes it off the old version atomically", func(t *testing.T) {
		mustTag(t, f, "r", "stable", 2, true)
		mustTag(t, f, "r", "stable", 3, true)
		if tagsOf(t, f, "r", 2)["stable"] {
			t.Fatal("v2 still holds stable")
		}
		if v, _ := resolveTag(t, f, "r", "stable"); v != 3 {
			t.Fatalf("stable resolves to %d", v)
		}
	})
	t.Run("a shared tag on two versions is ambiguous and lists them", func(t *testing.T) {
		mustTag(t, f, "r", "bench", 1, false)
		if v, err := resolveTag(t, f, "r", "bench"); err != nil || v != 1 {
			t.Fatalf("one member resolves: %d %v", v, err)
		}
		mustTag(t, f, "r", "bench", 2, false)
		_, err := resolveTag(t, f, "r", "bench")
		wantCode(t, err, registry.CodeConflict, "versions 1 and 2")
	})
	t.Run("adding a shared tag that another version holds exclusively is a conflict", func(t *testing.T) {
		_, err := putTag(f, "r", "stable", 1, false)
		wantCode(t, err, registry.CodeConflict, "stable", "exclusive")
	})
	t.Run("making a shared tag exclusive is a conflict", func(t *testing.T) {
		_, err := putTag(f, "r", "bench", 3, true)
		wantCode(t, err, registry.CodeConflict, "bench", "shared")
	})
	t.Run("default cannot be removed", func(t *testing.T) {
		err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "r", Tag: "default", Version: 1})
		wantCode(t, err, registry.CodeConflict, "default")
	})
	t.Run("a stale If-Match revision is a failed precondition and changes nothing", func(t *testing.T) {
		cur := mustTag(t, f, "r", "prod", 1, true)
		stale := cur.Revision - 1
		_, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "r", Tag: "prod", Version: 2, Exclusive: true, IfRevision: &stale})
		wantCode(t, err, registry.CodePreconditionFailed, "revision")
		if v, _ := resolveTag(t, f, "r", "prod"); v != 1 {
			t.Fatalf("prod moved to %d", v)
		}
		rev := cur.Revision
		moved, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: "r", Tag: "prod", Version: 2, Exclusive: true, IfRevision: &rev})
		if err != nil || moved.Revision != rev+1 {
			t.Fatalf("matching If-Match: %+v %v", moved, err)
		}
	})
	t.Run("tagging a version that does not exist is not found and changes nothing", func(t *testing.T) {
		_, err := putTag(f, "r", "stable", 99, true)
		wantCode(t, err, registry.CodeNotFound, "99")
		if v, _ := resolveTag(t, f, "r", "stable"); v != 3 {
			t.Fatalf("stable moved to %d", v)
		}
	})
	t.Run("removing a tag a version does not hold is not found", func(t *testing.T) {
		err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "r", Tag: "bench", Version: 3})
		wantCode(t, err, registry.CodeNotFound, "bench")
	})
	t.Run("removing shared members one by one frees the tag", func(t *testing.T) {
		for _, v := range []int{1, 2} {
			if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: "r", Tag: "bench", Version: v}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := resolveTag(t, f, "r", "bench")
		wantCode(t, err, registry.CodeNotFound, "bench")
		// A free tag may take the other mode.
		mustTag(t, f, "r", "bench", 2, true)
	})
	t.Run("tagging a flow that does not exist says the flow has no deployments", func(t *testing.T) {
		_, err := putTag(f, "ghost", "stable", 1, true)
		wantCode(t, err, registry.CodeNotFound, "ghost", "no deployments")
	})
}

func testDeleteRules(t *testing.T, f *fixture) {
	deploy(t, f, "d", "", false)
	deploy(t, f, "d", "canary", true)
	mustTag(t, f, "d", "stable", 2, true)
	mustTag(t, f, "d", "bench", 2, false)
	mustTag(t, f, "d", "bench", 1, false)

	t.Run("a version holding exclusive tags cannot be deleted and the message names them", func(t *testing.T) {
		err := f.store.DeleteDeployment(ctx, project, "d", 2, "tester")
		wantCode(t, err, registry.CodeConflict, "canary", "stable")
		tagsOf(t, f, "d", 2)
	})
	t.Run("the default version cannot be deleted until default moves", func(t *testing.T) {
		err := f.store.DeleteDeployment(ctx, project, "d", 1, "tester")
		wantCode(t, err, registry.CodeConflict, "default")
	})
	t.Run("shared tags leave with their deleted version", func(t *testing.T) {
		mustTag(t, f, "d", "canary", 1, true)
		mustTag(t, f, "d", "stable", 1, true)
		if err := f.store.DeleteDeployment(ctx, project, "d", 2, "tester"); err != nil {
			t.Fatal(err)
		}
		_, err := f.store.GetDeployment(ctx, project, "d", 2)
		wantCode(t, err, registry.CodeNotFound, "2")
		if v, err := resolveTag(t, f, "d", "bench"); err != nil || v != 1 {
			t.Fatalf("bench resolves to %d, %v; want only v1 left", v, err)
		}
		h, err := f.store.TagHistory(ctx, project, "d", "bench", registry.PageRequest{})
		if err != nil || h.Items[0].Action != registry.ActionDelete || *h.Items[0].From != 2 {
			t.Fatalf("history %+v %v", h.Items, err)
		}
		fs, err := f.store.GetFlow(ctx, project, "d")
		if err != nil || fs.DeploymentCount != 1 || fs.LatestVersion != 1 {
			t.Fatalf("summary %+v %v", fs, err)
		}
	})
	t.Run("deleting a missing version is not found", func(t *testing.T) {
		wantCode(t, f.store.DeleteDeployment(ctx, project, "d", 7, "tester"), registry.CodeNotFound, "7")
	})
}

func testRollback(t *testing.T, f *fixture) {
	for range 3 {
		deploy(t, f, "rb", "canary", true)
	}
	t.Run("a tag that never moved has nothing to roll back to", func(t *testing.T) {
		mustTag(t, f, "rb", "stable", 1, true)
		_, err := f.store.RollbackTag(ctx, project, "rb", "stable", "tester")
		wantCode(t, err, registry.CodeConflict, "no earlier version")
	})
	t.Run("rollback moves the tag back to its previous version and records it", func(t *testing.T) {
		mustTag(t, f, "rb", "stable", 2, true)
		tg, err := f.store.RollbackTag(ctx, project, "rb", "stable", "tester")
		if err != nil || !cmp.Equal(tg.Versions, []int{1}) {
			t.Fatalf("rollback: %+v %v", tg, err)
		}
		h, err := f.store.TagHistory(ctx, project, "rb", "stable", registry.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got := h.Items[0]
		if got.Action != registry.ActionRollback || *got.From != 2 || *got.To != 1 {
			t.Fatalf("history head %+v", got)
		}
	})
	t.Run("rollback to a deleted version is refused", func(t *testing.T) {
		mustTag(t, f, "rb", "stable", 3, true) // stable 1 -> 3, canary on 3
		mustTag(t, f, "rb", "canary", 3, true)
		if err := f.store.DeleteDeployment(ctx, project, "rb", 1, "tester"); err == nil {
			t.Fatal("v1 holds default; delete should be refused")
		}
		mustTag(t, f, "rb", "default", 3, true)
		if err := f.store.DeleteDeployment(ctx, project, "rb", 1, "tester"); err != nil {
			t.Fatal(err)
		}
		_, err := f.store.RollbackTag(ctx, project, "rb", "stable", "tester")
		wantCode(t, err, registry.CodeConflict, "deleted")
		if v, _ := resolveTag(t, f, "rb", "stable"); v != 3 {
			t.Fatalf("stable moved to %d", v)
		}
	})
	t.Run("rollback of a shared tag is refused", func(t *testing.T) {
		mustTag(t, f, "rb", "bench", 2, false)
		_, err := f.store.RollbackTag(ctx, project, "rb", "bench", "tester")
		wantCode(t, err, registry.CodeConflict, "shared")
	})
}

func testHistory(t *testing.T, f *fixture) {
	deploy(t, f, "h", "", false)
	deploy(t, f, "h", "", false)
	mustTag(t, f, "h", "default", 1, true)
	t.Run("every route change is recorded with who, when and from → to, newest first", func(t *testing.T) {
		h, err := f.store.TagHistory(ctx, project, "h", "default", registry.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		type step struct {
			Action   registry.Action
			From, To *int
		}
		var got []step
		for _, c := range h.Items {
			if c.By != "tester" || c.At.IsZero() {
				t.Errorf("record without who/when: %+v", c)
			}
			got = append(got, step{c.Action, c.From, c.To})
		}
		one, two := 1, 2
		want := []step{{registry.ActionMove, &two, &one}, {registry.ActionDeploy, &one, &two}, {registry.ActionDeploy, nil, &one}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("history (-want +got):\n%s", diff)
		}
	})
	t.Run("history pages carry the from of their last record", func(t *testing.T) {
		p1, err := f.store.TagHistory(ctx, project, "h", "default", registry.PageRequest{Limit: 2})
		if err != nil || len(p1.Items) != 2 || p1.NextToken == "" || p1.Items[1].From == nil {
			t.Fatalf("page 1: %+v %v", p1, err)
		}
		p2, err := f.store.TagHistory(ctx, project, "h", "default", registry.PageRequest{Limit: 2, Token: p1.NextToken})
		if err != nil || len(p2.Items) != 1 || p2.NextToken != "" {
			t.Fatalf("page 2: %+v %v", p2, err)
		}
	})
}

func testResolveAndReads(t *testing.T, f *fixture) {
	for range 5 {
		deploy(t, f, "reads", "", false)
	}
	mustTag(t, f, "reads", "stable", 2, true)
	t.Run("a flow with no deployments says so, not that a tag is missing", func(t *testing.T) {
		_, err := resolveTag(t, f, "nothing_here", "")
		wantCode(t, err, registry.CodeNotFound, "nothing_here", "no deployments")
	})
	t.Run("an unknown explicit tag is not found and names the tag", func(t *testing.T) {
		_, err := resolveTag(t, f, "reads", "nope")
		wantCode(t, err, registry.CodeNotFound, `"nope"`)
	})
	t.Run("an unknown version is not found", func(t *testing.T) {
		_, err := f.store.Resolve(ctx, project, "reads", registry.Selector{Version: 42})
		wantCode(t, err, registry.CodeNotFound, "42")
	})
	t.Run("tag and version together are refused", func(t *testing.T) {
		_, err := f.store.Resolve(ctx, project, "reads", registry.Selector{Version: 1, Tag: "stable"})
		wantCode(t, err, registry.CodeInvalidArgument)
	})
	t.Run("a version resolves with its tags", func(t *testing.T) {
		r, err := f.store.Resolve(ctx, project, "reads", registry.Selector{Version: 2})
		if err != nil || !r.Deployment.Tags["stable"] || string(r.Deployment.Inputs) != `{"topic":"durable execution"}` {
			t.Fatalf("%+v %v", r, err)
		}
	})
	t.Run("deployments list newest first in pages", func(t *testing.T) {
		var got []int
		token := ""
		for {
			p, err := f.store.ListDeployments(ctx, project, "reads", registry.PageRequest{Limit: 2, Token: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range p.Items {
				got = append(got, d.Version)
			}
			if token = p.NextToken; token == "" {
				break
			}
		}
		if diff := cmp.Diff([]int{5, 4, 3, 2, 1}, got); diff != "" {
			t.Fatalf("versions (-want +got):\n%s", diff)
		}
	})
	t.Run("a page that ends exactly at the last version has no next token", func(t *testing.T) {
		p, err := f.store.ListDeployments(ctx, project, "reads", registry.PageRequest{Limit: 5})
		if err != nil || len(p.Items) != 5 || p.NextToken != "" {
			t.Fatalf("got %d items, next_token %q, %v", len(p.Items), p.NextToken, err)
		}
	})
	t.Run("a page token from another flow is refused", func(t *testing.T) {
		deploy(t, f, "other", "", false)
		deploy(t, f, "other", "", false)
		p, err := f.store.ListDeployments(ctx, project, "other", registry.PageRequest{Limit: 1})
		if err != nil || p.NextToken == "" {
			t.Fatalf("%+v %v", p, err)
		}
		_, err = f.store.ListDeployments(ctx, project, "reads", registry.PageRequest{Limit: 1, Token: p.NextToken})
		wantCode(t, err, registry.CodeInvalidArgument, "next_token")
		_, err = f.store.ListDeployments(ctx, project, "reads", registry.PageRequest{Token: "garbage!"})
		wantCode(t, err, registry.CodeInvalidArgument, "next_token")
	})
	t.Run("the flow summary shows count, latest, default and tags", func(t *testing.T) {
		fs, err := f.store.GetFlow(ctx, project, "reads")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]int{"default": {5}, "stable": {2}}
		if fs.DeploymentCount != 5 || fs.LatestVersion != 5 || *fs.DefaultVersion != 5 || !cmp.Equal(want, fs.Tags) {
			t.Fatalf("%+v", fs)
		}
	})
	t.Run("flows list by name", func(t *testing.T) {
		p, err := f.store.ListFlows(ctx, project, registry.PageRequest{Limit: 1})
		if err != nil || len(p.Items) != 1 || p.Items[0].Flow != "other" || p.NextToken == "" {
			t.Fatalf("page 1 %+v %v", p, err)
		}
		p, err = f.store.ListFlows(ctx, project, registry.PageRequest{Limit: 5, Token: p.NextToken})
		if err != nil || len(p.Items) != 1 || p.Items[0].Flow != "reads" || p.Items[0].LatestVersion != 5 {
			t.Fatalf("page 2 %+v %v", p, err)
		}
	})
}

func testProjectIsolation(t *testing.T, f *fixture) {
	deploy(t, f, "shared_name", "", false)
	other := func(err error) { t.Helper(); wantCode(t, err, registry.CodeNotFound) }
	t.Run("another project's flow answers not found everywhere", func(t *testing.T) {
		_, err := f.store.Resolve(ctx, "intruder", "shared_name", registry.Selector{})
		other(err)
		_, err = f.store.GetDeployment(ctx, "intruder", "shared_name", 1)
		other(err)
		_, err = f.store.GetFlow(ctx, "intruder", "shared_name")
		other(err)
		_, err = f.store.ListDeployments(ctx, "intruder", "shared_name", registry.PageRequest{})
		other(err)
		_, err = f.store.PutTag(ctx, registry.TagRequest{Project: "intruder", Flow: "shared_name", Tag: "stable", Version: 1, Exclusive: true})
		other(err)
		other(f.store.DeleteDeployment(ctx, "intruder", "shared_name", 1, "x"))
		p, err := f.store.ListFlows(ctx, "intruder", registry.PageRequest{})
		if err != nil || len(p.Items) != 0 {
			t.Fatalf("intruder sees flows %+v %v", p.Items, err)
		}
	})
	t.Run("the same flow name in another project has its own versions", func(t *testing.T) {
		d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: "intruder", Flow: "shared_name", Entrypoint: "x.py:shared_name", Stack: "dev"})
		if err != nil || d.Version != 1 || d.Project != "intruder" {
			t.Fatalf("%+v %v", d, err)
		}
	})
}
