package cli

import (
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

func TestEveryReasonTheServerSetsHasACLINextStep(t *testing.T) {
	conn := func() connection { return connection{} }
	for _, reason := range registry.Reasons {
		t.Run(reason+" names a kitaru command or flag", func(t *testing.T) {
			step := nextStep(map[string]any{registry.DetailReason: reason, "flow": "f", "tag": "t"}, conn)
			if !strings.HasPrefix(step, "; ") || !(strings.Contains(step, "kitaru ") || strings.Contains(step, "--")) {
				t.Errorf("next step %q", step)
			}
		})
	}
	t.Run("no flow in the details leaves a placeholder", func(t *testing.T) {
		if step := nextStep(map[string]any{registry.DetailReason: registry.ReasonNoDefault}, conn); step != "; pass --tag T or --version N, or move default: kitaru flow tag FLOW default --version N --exclusive" {
			t.Errorf("next step %q", step)
		}
	})
	t.Run("a version holding one exclusive tag names it", func(t *testing.T) {
		d := map[string]any{registry.DetailReason: registry.ReasonHoldsExclusiveTags, "flow": "f", "exclusive_tags": []any{"canary"}}
		if step := nextStep(d, conn); step != "; move it with kitaru flow tag f canary --version N --exclusive" {
			t.Errorf("next step %q", step)
		}
	})
	t.Run("an error without a reason gets nothing", func(t *testing.T) {
		if step := nextStep(map[string]any{"flow": "f"}, conn); step != "" {
			t.Errorf("next step %q", step)
		}
	})
}
