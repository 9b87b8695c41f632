package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/prune"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestPrune(t *testing.T) {
	f := newFixture(t)
	h := f.handler(httpapi.Config{Pruner: &prune.Pruner{Store: f.store, Bundles: artifactStore}})
	const proj = "prune-a"
	post := func(target, body string) string {
		t.Helper()
		return must(t, h, as(request("POST", target, body), proj, "producer", "alice"), 201)
	}
	other, err := bundletest.ResearchArchiveWith("# another revision\n")
	if err != nil {
		t.Fatal(err)
	}
	post("/v1/flows/research_agent/deployments", deployBody(""))                                   // v1, research bundle
	post("/v1/flows/research_agent/deployments", deployBody(""))                                   // v2, research bundle
	post("/v1/flows/research_agent/deployments", deployBody(`"source": {"archive": "`+other+`"}`)) // v3, default
	stored := func(digest string) bool {
		t.Helper()
		key, err := bundle.KeyFor(proj, digest)
		if err != nil {
			t.Fatal(err)
		}
		_, exists, err := artifactStore.Blobs.Stat(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		return exists
	}
	prune := func(body string, want int) string {
		t.Helper()
		return must(t, h, as(request("POST", "/v1/flows/research_agent/prune", body), proj, "producer", "alice"), want)
	}

	t.Run("a consumer may not prune", func(t *testing.T) {
		wantError(t, do(t, h, as(request("POST", "/v1/flows/research_agent/prune", `{"keep": 1}`), proj, "consumer", "bob")), 403, registry.CodePermissionDenied)
	})
	for name, body := range map[string]string{
		"keep is required":                    `{}`,
		"keep is at least 1":                  `{"keep": 0}`,
		"older_than is an age":                `{"keep": 1, "older_than": "soon"}`,
		"an unknown field is named, not lost": `{"keep": 1, "dryrun": true}`,
	} {
		t.Run(name, func(t *testing.T) {
			msg := wantError(t, do(t, h, as(request("POST", "/v1/flows/research_agent/prune", body), proj, "producer", "alice")), 400, registry.CodeInvalidArgument)
			if msg == "" {
				t.Error("no message")
			}
		})
	}
	t.Run("a dry run answers the plan and deletes nothing", func(t *testing.T) {
		got := decode[registry.Pruning](t, prune(`{"keep": 1, "dry_run": true}`, 200))
		if !got.DryRun || len(got.Deleted) != 2 || len(got.Bundles) != 1 || !got.Bundles[0].Deleted {
			t.Fatalf("plan %+v", got)
		}
		if !stored(researchDigest(t)) {
			t.Error("a dry run deleted the bundle")
		}
		must(t, h, as(request("GET", "/v1/flows/research_agent/deployments/1", ""), proj, "producer", "alice"), 200)
	})
	t.Run("a prune deletes the unrouted versions and the bundle only they used", func(t *testing.T) {
		got := decode[registry.Pruning](t, prune(`{"keep": 1, "older_than": "0h1m"}`, 200))
		if len(got.Deleted) != 0 {
			t.Fatalf("versions a minute old were deleted: %+v", got.Deleted)
		}
		got = decode[registry.Pruning](t, prune(`{"keep": 1}`, 200))
		if len(got.Deleted) != 2 || got.Deleted[0].Version != 1 || got.Deleted[1].Version != 2 {
			t.Fatalf("deleted %+v", got.Deleted)
		}
		if len(got.Kept) != 1 || got.Kept[0].Reason != registry.KeptRouted {
			t.Errorf("kept %+v", got.Kept)
		}
		if stored(researchDigest(t)) {
			t.Error("the bundle no version uses is still stored")
		}
		wantError(t, do(t, h, as(request("GET", "/v1/flows/research_agent/deployments/1", ""), proj, "producer", "alice")), 404, registry.CodeNotFound)
	})
	t.Run("a deploy of the collected bundle stores it again", func(t *testing.T) {
		post("/v1/flows/research_agent/deployments", deployBody(""))
		if !stored(researchDigest(t)) {
			t.Error("an inline deploy did not store its bundle again")
		}
	})
	t.Run("a deploy whose bundle is being collected is a conflict saying to upload again", func(t *testing.T) {
		digest := researchDigest(t)
		if ok, err := f.store.StartBundleCollection(context.Background(), proj, digest, "test", time.Now().Add(5*time.Minute)); err != nil || !ok {
			t.Fatalf("start collection: %v, %v", ok, err)
		}
		resp := do(t, h, as(request("POST", "/v1/flows/research_agent/deployments", deployBody(`"source": {"digest": "`+digest+`"}`)), proj, "producer", "alice"))
		wantError(t, resp, 409, registry.CodeConflict)
		if !strings.Contains(resp.Body, registry.ReasonBundleBeingCollected) {
			t.Errorf("body %s", resp.Body)
		}
		if err := f.store.EndBundleCollection(context.Background(), proj, digest, "test"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an unknown flow is not found", func(t *testing.T) {
		wantError(t, do(t, h, as(request("POST", "/v1/flows/nothing_here/prune", `{"keep": 1}`), proj, "producer", "alice")), 404, registry.CodeNotFound)
	})
	t.Run("a server without a pruner answers 503", func(t *testing.T) {
		wantError(t, do(t, f.dev, as(request("POST", "/v1/flows/research_agent/prune", `{"keep": 1}`), proj, "producer", "alice")), 503, registry.CodeUnavailable)
	})
}
