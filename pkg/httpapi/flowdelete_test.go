package httpapi_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestDeleteFlow(t *testing.T) {
	f := newFixture(t)
	h := f.handler(httpapi.Config{})
	must(t, h, as(request("POST", "/v1/flows/doomed/deployments", deployBody("")), "team-a", "producer", "alice"), 201)
	must(t, h, as(request("POST", "/v1/flows/doomed/deployments", deployBody(`"tag": "stable", "exclusive": true`)), "team-a", "producer", "alice"), 201)

	t.Run("a consumer may not delete a flow", func(t *testing.T) {
		wantError(t, do(t, h, as(request("DELETE", "/v1/flows/doomed?force=true", ""), "team-a", "consumer", "bob")), 403, registry.CodePermissionDenied)
	})
	t.Run("force must be true or false", func(t *testing.T) {
		wantError(t, do(t, h, as(request("DELETE", "/v1/flows/doomed?force=yes", ""), "team-a", "producer", "alice")), 400, registry.CodeInvalidArgument)
	})
	t.Run("without force an exclusive tag besides default is a conflict naming it", func(t *testing.T) {
		resp := do(t, h, as(request("DELETE", "/v1/flows/doomed?force=false", ""), "team-a", "producer", "alice"))
		wantError(t, resp, 409, registry.CodeConflict)
		if !strings.Contains(resp.Body, `"reason":"`+registry.ReasonFlowHasRoutes+`"`) || !strings.Contains(resp.Body, `"stable"`) {
			t.Errorf("body %s, want reason %s naming stable", resp.Body, registry.ReasonFlowHasRoutes)
		}
	})
	t.Run("with force it answers what it removed", func(t *testing.T) {
		got := decode[registry.FlowDeletion](t, must(t, h, as(request("DELETE", "/v1/flows/doomed?force=true", ""), "team-a", "producer", "alice"), 200))
		if !got.Forced || !slices.Equal(got.Versions, []int{1, 2}) || !slices.Equal(got.Tags["stable"], []int{2}) || got.NextVersion != 3 {
			t.Fatalf("deletion %+v", got)
		}
		wantError(t, do(t, h, as(request("GET", "/v1/flows/doomed", ""), "team-a", "producer", "alice")), 404, registry.CodeNotFound)
	})
	t.Run("a flow that is gone is not found", func(t *testing.T) {
		wantError(t, do(t, h, as(request("DELETE", "/v1/flows/doomed", ""), "team-a", "producer", "alice")), 404, registry.CodeNotFound)
	})
}
