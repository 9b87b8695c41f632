package invoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestInvokeCompilesEachInputSchemaOnce(t *testing.T) {
	svc, store := newService(t, &fakeExecutor{})
	svc.Schemas = registry.NewSchemaCache(0)
	src := &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)}
	ctx := context.Background()
	for _, flow := range []string{"given", "same"} {
		if _, err := store.Deploy(ctx, registry.DeployRequest{
			Project: "p", Flow: flow, Entrypoint: "flows/f.py:f", Source: src, Stack: "dev",
			Inputs:      json.RawMessage(`{"topic": "x"}`),
			InputSchema: json.RawMessage(`{"type": "object", "$defs": {"t": {"type": "string"}}, "properties": {"topic": {"$ref": "#/$defs/t"}}}`),
		}); err != nil {
			t.Fatal(err)
		}
	}
	deployFlow(t, store, "schemaless", "dev", src)

	for range 3 {
		for _, flow := range []string{"given", "same", "schemaless"} {
			if _, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: flow, Inputs: json.RawMessage(`{"topic": "y"}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// One schema: the given one, shared by two flows; a flow without one compiles nothing.
	if got := svc.Schemas.Compiles(); got != 1 {
		t.Errorf("9 invocations compiled %d schemas, want 1", got)
	}
	t.Run("a cached schema still refuses what it refused", func(t *testing.T) {
		for range 2 {
			_, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "given", Inputs: json.RawMessage(`{"topic": 5}`)})
			if registry.CodeOf(err) != registry.CodeUnprocessable || !strings.Contains(err.Error(), `"topic"`) {
				t.Fatalf("got %v", err)
			}
		}
		if got := svc.Schemas.Compiles(); got != 1 {
			t.Errorf("compiled %d schemas, want 1", got)
		}
	})
}

func TestInvokeRefusesNumbersPythonCannotHold(t *testing.T) {
	svc, store := newService(t, &fakeExecutor{})
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	for _, inputs := range []string{`{"topic": 1e400}`, `{"topic": {"deep": [-1e400]}}`, `{"topic": 1e-400}`} {
		_, _, err := svc.Invoke(context.Background(), invoke.Request{Project: "p", Flow: "ok", Inputs: json.RawMessage(inputs)})
		if registry.CodeOf(err) != registry.CodeInvalidArgument || !strings.Contains(err.Error(), `"topic`) {
			t.Errorf("%s: got %v, want invalid_argument naming topic", inputs, err)
		}
	}
}
