package api_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

// The reasons a client may key its own next step on (details.reason) are
// part of the contract: the document lists exactly the server's.
func TestDocumentListsExactlyTheErrorReasons(t *testing.T) {
	doc := loadDocument(t)
	ref := doc.Components.Schemas["ErrorReason"]
	if ref == nil || ref.Value == nil {
		t.Fatal("the document has no ErrorReason schema")
	}
	var documented []string
	for _, v := range ref.Value.Enum {
		s, _ := v.(string)
		documented = append(documented, s)
	}
	served := slices.Clone(registry.Reasons)
	slices.Sort(documented)
	slices.Sort(served)
	if diff := cmp.Diff(documented, served); diff != "" {
		t.Errorf("ErrorReason enum differs from registry.Reasons (-document +server):\n%s", diff)
	}
}
