package invoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
)

func deployWithSecrets(t *testing.T, store interface {
	Deploy(context.Context, registry.DeployRequest) (registry.Deployment, error)
}, names ...string) {
	t.Helper()
	if _, err := store.Deploy(context.Background(), registry.DeployRequest{
		Project: "p", Flow: "agent", Entrypoint: "flows/f.py:agent", Source: &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)},
		Stack: "dev", Secrets: names,
	}); err != nil {
		t.Fatal(err)
	}
}

func TestInvokeResolvesTheDeploymentsSecrets(t *testing.T) {
	ctx := context.Background()
	const value = "sk-invoke-leakcheck-55aa"
	vault := secrets.NewMemory(nil)
	if _, err := vault.Set(ctx, "p", "OPENAI_API_KEY", value); err != nil {
		t.Fatal(err)
	}

	t.Run("in process, the run request carries the values only in Env", func(t *testing.T) {
		exec := &recordingExecutor{}
		svc, store := newService(t, exec)
		svc.Secrets = vault
		deployWithSecrets(t, store, "OPENAI_API_KEY")
		if _, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "agent"}); err != nil {
			t.Fatal(err)
		}
		req := exec.started[0]
		if diff := cmp.Diff(map[string]string{"OPENAI_API_KEY": value}, req.Env); diff != "" {
			t.Errorf("Env (-want +got):\n%s", diff)
		}
		if encoded, _ := json.Marshal(req); strings.Contains(string(encoded), value) || req.Run != nil {
			t.Errorf("the encoded request holds the value or a reference: %s", encoded)
		}
	})

	t.Run("by reference, the request holds the run object's URL, which answers the values", func(t *testing.T) {
		exec := &recordingExecutor{}
		svc, store := newService(t, exec)
		svc.Secrets, svc.RunObjects, svc.SecretsByReference = vault, &artifacts.Store{Blobs: localBlobs(t)}, true
		deployWithSecrets(t, store, "OPENAI_API_KEY")
		if _, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "agent"}); err != nil {
			t.Fatal(err)
		}
		req := exec.started[0]
		encoded, _ := json.Marshal(req)
		if strings.Contains(string(encoded), value) || req.Env != nil || req.Run == nil {
			t.Fatalf("the state machine input would be %s (Env %d values); want a reference and no value", encoded, len(req.Env))
		}
		obj, status := getRunObject(t, req.Run)
		if diff := cmp.Diff(map[string]string{"OPENAI_API_KEY": value}, obj.Secrets); status != http.StatusOK || diff != "" {
			t.Errorf("GET the run object = %d, secrets (-want +got):\n%s", status, diff)
		}
		if obj.LogUpload == nil {
			t.Error("the run object has no log_upload")
		}
	})

	t.Run("in process with run objects, the values stay out of the run object", func(t *testing.T) {
		exec := &recordingExecutor{}
		svc, store := newService(t, exec)
		svc.Secrets, svc.RunObjects = vault, &artifacts.Store{Blobs: localBlobs(t)}
		deployWithSecrets(t, store, "OPENAI_API_KEY")
		if _, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "agent"}); err != nil {
			t.Fatal(err)
		}
		req := exec.started[0]
		if obj, _ := getRunObject(t, req.Run); len(obj.Secrets) != 0 || req.Env["OPENAI_API_KEY"] != value {
			t.Errorf("run object secrets %d, Env %d; want the values in Env only", len(obj.Secrets), len(req.Env))
		}
	})

	t.Run("a missing secret is a 422 naming it, and no execution is recorded", func(t *testing.T) {
		exec := &recordingExecutor{}
		svc, store := newService(t, exec)
		svc.Secrets = vault
		deployWithSecrets(t, store, "OPENAI_API_KEY", "SERP_KEY")
		_, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "agent"})
		if registry.CodeOf(err) != registry.CodeUnprocessable || !strings.Contains(err.Error(), "SERP_KEY") {
			t.Fatalf("Invoke: %v; want unprocessable naming SERP_KEY", err)
		}
		page, err := store.ListExecutions(ctx, "p", "agent", registry.PageRequest{})
		if err != nil || len(page.Items) != 0 || len(exec.started) != 0 {
			t.Errorf("executions %+v, %v, starts %d; want none", page.Items, err, len(exec.started))
		}
	})

	t.Run("a server without a secret store refuses with unavailable", func(t *testing.T) {
		svc, store := newService(t, &recordingExecutor{})
		deployWithSecrets(t, store, "OPENAI_API_KEY")
		_, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "agent"})
		if registry.CodeOf(err) != registry.CodeUnavailable {
			t.Fatalf("Invoke: %v; want unavailable", err)
		}
	})
}
