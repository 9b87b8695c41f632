package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// testNothingLostOrDuplicated runs a sequential mix of deploys, moves,
// rollbacks, untags and deletes (pkg/dynamo also runs it under faults), then checks the table: versions
// dense and unique, one version per deploy (each deploy's description is
// unique), every acknowledged change present, every route equal to its newest
// history record, no tag on a deleted version.
func testNothingLostOrDuplicated(t *testing.T, f *fixture) {
	const flow = "faulty"
	deployed := map[int]string{}
	deleted := map[int]bool{}
	for i := range 40 {
		desc := fmt.Sprintf("deploy-%d", i)
		tag := []string{"", "canary", "bench"}[i%3]
		d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:faulty", Tag: tag, Exclusive: tag == "canary", Stack: "dev", Description: desc})
		if err != nil {
			t.Fatalf("deploy %d: %v", i, err)
		}
		deployed[d.Version] = desc
		if i < 2 {
			continue
		}
		var opErr error
		switch i % 5 {
		case 0:
			_, opErr = putTag(f, flow, "stable", 1+i%len(deployed), true)
		case 1:
			_, opErr = f.store.RollbackTag(ctx, project, flow, "stable", "tester")
		case 2:
			opErr = f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: "bench", Version: d.Version - 1})
		case 3:
			if v := d.Version - 2; !deleted[v] {
				if opErr = f.store.DeleteDeployment(ctx, project, flow, v, "tester"); opErr == nil {
					deleted[v] = true
				}
			}
		case 4:
			_, opErr = putTag(f, flow, "bench", d.Version-3, false)
		}
		if opErr != nil && !errors.Is(opErr, registry.ErrConflict) && !errors.Is(opErr, registry.ErrNotFound) {
			t.Fatalf("op %d: %v", i, opErr)
		}
	}
	checkTable(t, f, flow, deployed, deleted)
}

func checkTable(t *testing.T, f *fixture, flow string, deployed map[int]string, deleted map[int]bool) {
	t.Helper()
	seen := map[string]int{}
	present := map[int]bool{}
	token := ""
	for {
		p, err := f.store.ListDeployments(ctx, project, flow, registry.PageRequest{Limit: registry.MaxPageSize, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Items {
			if other, dup := seen[d.Description]; dup {
				t.Fatalf("one deploy (%q) made two versions: v%d and v%d", d.Description, other, d.Version)
			}
			seen[d.Description], present[d.Version] = d.Version, true
		}
		if token = p.NextToken; token == "" {
			break
		}
	}
	for v := 1; v <= len(deployed); v++ {
		desc, ok := deployed[v]
		switch {
		case !ok:
			t.Fatalf("versions are not dense: no deploy was acknowledged as v%d (acknowledged: %v)", v, deployed)
		case deleted[v] && present[v]:
			t.Fatalf("v%d was deleted but is still there", v)
		case !deleted[v] && seen[desc] != v:
			t.Fatalf("acknowledged deploy %q (v%d) is lost", desc, v)
		}
	}
	if len(present) != len(deployed)-len(deleted) {
		t.Fatalf("%d versions stored, want %d", len(present), len(deployed)-len(deleted))
	}
	fs, err := f.store.GetFlow(ctx, project, flow)
	if err != nil || fs.DeploymentCount != len(present) {
		t.Fatalf("flow summary counts %d deployments, %d stored (%v)", fs.DeploymentCount, len(present), err)
	}
	for tag, vs := range fs.Tags {
		for _, v := range vs {
			if !present[v] {
				t.Fatalf("tag %s is on v%d, which does not exist", tag, v)
			}
		}
		if len(vs) == 1 {
			h, err := f.store.TagHistory(ctx, project, flow, tag, registry.PageRequest{Limit: 1})
			if err != nil || h.Items[0].To == nil || (h.Items[0].Exclusive && *h.Items[0].To != vs[0]) {
				t.Fatalf("tag %s is on %v but its newest history record is %+v (%v)", tag, vs, h.Items, err)
			}
		}
	}
}

// testCancelledRequestsAreUnavailable: a request whose context ended before
// it reached the engine answers unavailable and changes nothing.
func testCancelledRequestsAreUnavailable(t *testing.T, f *fixture) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	_, err := f.store.PutTag(c, registry.TagRequest{Project: project, Flow: "f", Tag: "stable", Version: 1, Exclusive: true})
	wantCode(t, err, registry.CodeUnavailable)
	if _, err := f.store.GetFlow(ctx, project, "f"); registry.CodeOf(err) != registry.CodeNotFound {
		t.Fatalf("the cancelled request left a flow behind: %v", err)
	}
}
