package workflow_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/workflow"
)

func TestTheRunRequestsBundleCarriesItsLimitAsMaxBytes(t *testing.T) {
	tests := []struct {
		name   string
		bundle workflow.URLRef
		want   string
	}{
		{"a limit is sent as bundle.max_bytes", workflow.URLRef{Digest: "sha256:x", URL: "http://b", MaxBytes: 100 << 20},
			`{"digest":"sha256:x","url":"http://b","max_bytes":104857600}`},
		{"no limit leaves max_bytes out, for the runner's default", workflow.URLRef{Digest: "sha256:x", URL: "http://b"},
			`{"digest":"sha256:x","url":"http://b"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := json.Marshal(workflow.RunRequest{Bundle: tt.bundle})
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]json.RawMessage
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(doc["bundle"])); diff != "" {
				t.Errorf("bundle (-want +got):\n%s", diff)
			}
		})
	}
}
