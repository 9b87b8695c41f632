package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestInputContract: the server never makes up a schema. A deployment
// without one stores none and takes any object at invoke. One with a schema
// is refused at deploy when its deploy-time inputs break it (missing required
// inputs aside), and an invoke whose merged inputs break it is a 422 naming
// the keys that records no execution.
func TestInputContract(t *testing.T) {
	f := newFixture(t)
	all := f.handler(httpapi.Config{
		Executions: f.store,
		Invoker:    &invoke.Service{Registry: f.store, Execs: f.store, Executor: fakeStepFunctions{}, Objects: artifactStore, Stacks: devStacks},
	})
	const greetSchema = `{"type": "object", "required": ["name"], "additionalProperties": false,` +
		` "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}}`
	deployGreet := func(extra string) string {
		return `{"entrypoint": "flows/research.py:research_agent", "source": {"archive": "` + researchArchive + `"}, ` + extra + `}`
	}
	wantKeys := func(t *testing.T, body string, keys ...string) {
		t.Helper()
		env := decode[api.ErrorBody](t, body)
		got, _ := env.Error.Details["keys"].([]any)
		var names []string
		for _, k := range got {
			s, _ := k.(string)
			names = append(names, s)
		}
		if diff := cmp.Diff(keys, names); diff != "" {
			t.Errorf("error keys (-want +got):\n%s\nbody %s", diff, body)
		}
	}
	executions := func(t *testing.T, flow string) int {
		t.Helper()
		body := must(t, all, request("GET", "/v1/flows/"+flow+"/executions", ""), 200)
		return len(decode[struct{ Items []registry.Execution }](t, body).Items)
	}

	t.Run("a deploy without a schema stores none", func(t *testing.T) {
		body := must(t, all, request("POST", "/v1/flows/open/deployments", deployBody("")), 201)
		if _, ok := decode[map[string]any](t, body)["input_schema"]; ok {
			t.Errorf("the deployment shows an input_schema nobody gave: %s", body)
		}
		got := must(t, all, request("GET", "/v1/flows/open/deployments/1", ""), 200)
		if _, ok := decode[map[string]any](t, got)["input_schema"]; ok {
			t.Errorf("the stored deployment shows an input_schema nobody gave: %s", got)
		}
	})
	t.Run("without a schema, an invoke may pass keys the deploy did not", func(t *testing.T) {
		must(t, all, request("POST", "/v1/flows/open/invocations", `{"inputs": {"name": "bob", "n": 2}}`), 202)
	})
	t.Run("a deploy-time key the schema does not allow is refused naming it", func(t *testing.T) {
		resp := do(t, all, request("POST", "/v1/flows/greet/deployments", deployGreet(`"inputs": {"name": "bob", "nmae": "x"}, "input_schema": `+greetSchema)))
		wantError(t, resp, http.StatusUnprocessableEntity, registry.CodeUnprocessable)
		wantKeys(t, resp.Body, "nmae")
	})
	t.Run("a deploy-time value of the wrong type is refused naming its key", func(t *testing.T) {
		resp := do(t, all, request("POST", "/v1/flows/greet/deployments", deployGreet(`"inputs": {"n": "two"}, "input_schema": `+greetSchema)))
		wantError(t, resp, http.StatusUnprocessableEntity, registry.CodeUnprocessable)
		wantKeys(t, resp.Body, "n")
	})
	t.Run("a deploy may leave a required input to the invoker", func(t *testing.T) {
		body := must(t, all, request("POST", "/v1/flows/greet/deployments", deployGreet(`"inputs": {"n": 2}, "input_schema": `+greetSchema)), 201)
		if d := decode[registry.Deployment](t, body); d.Version != 1 || len(d.InputSchema) == 0 {
			t.Errorf("the deployment lost its input_schema: %s", body)
		}
	})
	t.Run("an invoke missing a required input is refused naming it and records nothing", func(t *testing.T) {
		resp := do(t, all, request("POST", "/v1/flows/greet/invocations", `{"inputs": {"n": 3}}`))
		wantError(t, resp, http.StatusUnprocessableEntity, registry.CodeUnprocessable)
		wantKeys(t, resp.Body, "name")
		if n := executions(t, "greet"); n != 0 {
			t.Errorf("%d executions recorded, want none", n)
		}
	})
	t.Run("an invoke with an unknown key is refused naming it", func(t *testing.T) {
		resp := do(t, all, request("POST", "/v1/flows/greet/invocations", `{"inputs": {"name": "bob", "nmae": "x"}}`))
		wantError(t, resp, http.StatusUnprocessableEntity, registry.CodeUnprocessable)
		wantKeys(t, resp.Body, "nmae")
	})
	t.Run("an invoke supplying the required input starts", func(t *testing.T) {
		must(t, all, request("POST", "/v1/flows/greet/invocations", `{"inputs": {"name": "bob"}}`), 202)
		if n := executions(t, "greet"); n != 1 {
			t.Errorf("%d executions recorded, want 1", n)
		}
	})
}
