package storetest

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

// testDeploySecrets: the secret names a deploy declares are saved with the
// version, sorted and without repeats, and read back by every read.
func testDeploySecrets(t *testing.T, f *fixture) {
	d, err := f.store.Deploy(ctx, registry.DeployRequest{
		Project: project, Flow: "agent", Entrypoint: "flows/agent.py:agent", Inputs: json.RawMessage(`{}`),
		Stack: "dev", By: "tester", Secrets: []string{"SERP_KEY", "OPENAI_API_KEY", "SERP_KEY"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"OPENAI_API_KEY", "SERP_KEY"}
	plain := deploy(t, f, "agent", "plain", true)
	t.Run("the deploy answers the names sorted without repeats", func(t *testing.T) {
		if diff := cmp.Diff(want, d.Secrets); diff != "" {
			t.Errorf("Deploy().Secrets (-want +got):\n%s", diff)
		}
	})
	t.Run("get, resolve and list read them back", func(t *testing.T) {
		got, err := f.store.GetDeployment(ctx, project, "agent", d.Version)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got.Secrets); diff != "" {
			t.Errorf("GetDeployment().Secrets (-want +got):\n%s", diff)
		}
		res, err := f.store.Resolve(ctx, project, "agent", registry.Selector{Version: d.Version})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, res.Deployment.Secrets); diff != "" {
			t.Errorf("Resolve().Deployment.Secrets (-want +got):\n%s", diff)
		}
		page, err := f.store.ListDeployments(ctx, project, "agent", registry.PageRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range page.Items {
			var wantItem []string
			if item.Version == d.Version {
				wantItem = want
			}
			if diff := cmp.Diff(wantItem, item.Secrets); diff != "" {
				t.Errorf("ListDeployments v%d Secrets (-want +got):\n%s", item.Version, diff)
			}
		}
	})
	t.Run("a version that declares none has none", func(t *testing.T) {
		if plain.Secrets != nil {
			t.Errorf("Secrets = %v; want nil", plain.Secrets)
		}
	})
	t.Run("an invalid or reserved name is refused and nothing is saved", func(t *testing.T) {
		for _, name := range []string{"lower", "AWS_ACCESS_KEY_ID", "PATH"} {
			_, err := f.store.Deploy(ctx, registry.DeployRequest{
				Project: project, Flow: "refused", Entrypoint: "flows/agent.py:agent", Stack: "dev", By: "tester", Secrets: []string{name},
			})
			if registry.CodeOf(err) != registry.CodeInvalidArgument {
				t.Errorf("deploy with secret %q: %v; want invalid_argument", name, err)
			}
		}
		if _, err := f.store.GetDeployment(ctx, project, "refused", 1); registry.CodeOf(err) != registry.CodeNotFound {
			t.Errorf("a refused deploy saved a version: %v", err)
		}
	})
}
