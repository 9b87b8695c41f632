package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// researchV2Archive is researchArchive with research.py changed and a
// prompts file added, base64 as a deploy body carries it.
func researchV2Archive(t *testing.T) string {
	t.Helper()
	b, err := bundletest.FromFiles(map[string]string{
		".kitaru/config.json": `{"version": 1}`,
		"flows/research.py":   "from kitaru import flow\n\n\n@flow\ndef research_agent(topic: str, depth: int = 1) -> str:\n    return f\"research notes on {topic}\"\n",
		"flows/prompts.txt":   "Be brief.\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Data)
}

func TestDiffRoute(t *testing.T) {
	f := newFixture(t)
	const flows = "/v1/flows/research_agent"
	must(t, f.dev, request("POST", flows+"/deployments", deployBody(`"source": {"archive": "`+researchArchive+`", "commit": "abc123"}`)), http.StatusCreated)
	must(t, f.dev, request("POST", flows+"/deployments", `{"entrypoint": "flows/research.py:research_agent", "tag": "stable",
		"source": {"archive": "`+researchV2Archive(t)+`", "commit": "def456", "dirty": true},
		"inputs": {"topic": "durable agents", "depth": 2}, "description": "deeper research"}`), http.StatusCreated)
	diff := func(query string) api.DeploymentDiff {
		t.Helper()
		return decode[api.DeploymentDiff](t, must(t, f.dev, request("GET", flows+"/diff?"+query, ""), http.StatusOK))
	}

	t.Run("a version against a tag resolves the tag and compares fields, inputs and files", func(t *testing.T) {
		d := diff("from=1&to=stable")
		if d.From.Version != 1 || d.From.Tag != "" || d.To.Version != 2 || d.To.Tag != "stable" || d.To.Ref != "stable" || d.Identical {
			t.Fatalf("sides %+v → %+v, identical %v; want 1 → stable (2)", d.From, d.To, d.Identical)
		}
		fields := map[string]api.FieldChange{}
		for _, c := range d.Fields {
			fields[c.Field] = c
		}
		if fields["description"].After != "deeper research" || fields["source.commit"].Before != "abc123" || fields["source.dirty"].After != true {
			t.Errorf("fields = %+v", d.Fields)
		}
		if len(d.Inputs) != 1 || d.Inputs[0].Key != "depth" || d.Inputs[0].Change != api.ChangeAdded {
			t.Errorf("inputs = %+v; want depth added", d.Inputs)
		}
		if !d.Source.Compared || d.Source.Summary != (api.FileSummary{Added: 1, Modified: 1, Unchanged: 1}) || len(d.Source.Files) != 2 {
			t.Fatalf("source = %+v", d.Source)
		}
		research := d.Source.Files[1]
		if research.Path != "flows/research.py" || !strings.Contains(research.Diff, "+def research_agent(topic: str, depth: int = 1) -> str:\n") {
			t.Errorf("diff of research.py = %+v", research)
		}
	})
	t.Run("path narrows the source diff", func(t *testing.T) {
		d := diff("from=1&to=2&path=flows/prompts.txt")
		if d.Source.Path != "flows/prompts.txt" || len(d.Source.Files) != 1 || d.Source.Files[0].Change != api.ChangeAdded {
			t.Errorf("source = %+v; want prompts.txt added alone", d.Source)
		}
	})
	for _, q := range []string{"from=2&to=2", "from=stable&to=2", "from=default&to=tag:default"} {
		t.Run("the same version twice is an empty diff: "+q, func(t *testing.T) {
			d := diff(q)
			if !d.Identical || len(d.Fields)+len(d.Inputs)+len(d.Source.Files) != 0 || !d.Source.SameBundle {
				t.Errorf("diff %s = %+v; want identical and empty", q, d)
			}
		})
	}
	t.Run("an unknown version or tag is 404 with its reason", func(t *testing.T) {
		for query, reason := range map[string]string{"from=1&to=9": registry.ReasonVersionNotFound, "from=nightly&to=1": registry.ReasonTagNotFound} {
			resp := do(t, f.dev, request("GET", flows+"/diff?"+query, ""))
			wantError(t, resp, http.StatusNotFound, registry.CodeNotFound)
			if got := decode[api.ErrorBody](t, resp.Body).Error.Details[registry.DetailReason]; got != reason {
				t.Errorf("%s: reason %v; want %s", query, got, reason)
			}
		}
	})
	t.Run("another project's flow is not found", func(t *testing.T) {
		resp := do(t, f.dev, as(request("GET", flows+"/diff?from=1&to=2", ""), "other", "producer", "other-key"))
		wantError(t, resp, http.StatusNotFound, registry.CodeNotFound)
	})
	t.Run("a consumer may read a diff", func(t *testing.T) {
		must(t, f.dev, as(request("GET", flows+"/diff?from=1&to=2", ""), "default", "consumer", "c"), http.StatusOK)
	})
	t.Run("bad refs and paths are 400 saying what to pass", func(t *testing.T) {
		for query, want := range map[string]string{
			"from=1":                  "to is missing",
			"from=01&to=2":            "tag:01",
			"from=1&to=2&path=../etc": "relative to the project root",
			"from=1&from=2&to=2":      "once",
		} {
			msg := wantError(t, do(t, f.dev, request("GET", flows+"/diff?"+query, "")), http.StatusBadRequest, registry.CodeInvalidArgument)
			if !strings.Contains(msg, want) {
				t.Errorf("%s: message %q; want it to contain %q", query, msg, want)
			}
		}
	})
	t.Run("a server without bundles answers 503", func(t *testing.T) {
		h := httpapi.New(f.store, httpapi.Config{Stacks: devStacks})
		wantError(t, do(t, h, request("GET", flows+"/diff?from=1&to=2", "")), http.StatusServiceUnavailable, registry.CodeUnavailable)
	})
	t.Run("a bundle the store no longer holds intact leaves the source uncompared, saying why", func(t *testing.T) {
		// Last: it spoils version 2's bundle, which no other test deploys.
		var digest string
		for _, c := range diff("from=1&to=2").Fields {
			if c.Field == "source.digest" {
				digest, _ = c.After.(string)
			}
		}
		key, err := bundle.KeyFor("default", digest)
		if err != nil {
			t.Fatalf("version 2's digest %q: %v", digest, err)
		}
		junk := strings.NewReader("not a bundle")
		if err := artifactStore.Blobs.Put(context.Background(), key, junk, junk.Size()); err != nil {
			t.Fatal(err)
		}
		d := diff("from=1&to=2")
		if d.Source.Compared || !strings.Contains(d.Source.Unavailable, "bundle of version 2") || len(d.Fields) == 0 || d.Identical {
			t.Errorf("diff = %+v; want the fields and a source that says why it was not compared", d)
		}
	})
}
