package registry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

func TestOutcomeErrorDetails(t *testing.T) {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	failed := func(details map[string]any) registry.Outcome {
		return registry.Outcome{Status: registry.StatusFailed, At: at, Error: &registry.ExecError{Type: "ValueError", Message: "m", Details: details}}
	}
	cur := registry.Execution{ExecID: "ex_1", Inputs: json.RawMessage(`{}`)}
	big := strings.Repeat("x", registry.MaxExecutionRecordBytes)
	tests := []struct {
		name     string
		outcome  registry.Outcome
		validate registry.Code
		fits     registry.Code
	}{
		{"details of strings are valid and fit", failed(map[string]any{registry.DetailRunnerTraceback: "Traceback ..."}), "", ""},
		{"details that do not encode as JSON are invalid", failed(map[string]any{"f": func() {}}), registry.CodeInvalidArgument, ""},
		{"details count towards the record's size", failed(map[string]any{registry.DetailRunnerTraceback: big}), "", registry.CodePayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(tt.outcome.Validate()); got != tt.validate {
				t.Errorf("Validate: code %q, want %q", got, tt.validate)
			}
			if tt.validate != "" {
				return
			}
			if got := codeOf(tt.outcome.CheckFits(cur)); got != tt.fits {
				t.Errorf("CheckFits: code %q, want %q", got, tt.fits)
			}
		})
	}
}

func TestFinishedErrorDetails(t *testing.T) {
	t.Run("empty details are dropped, so the JSON has no details key", func(t *testing.T) {
		e := registry.Execution{}.Finished(registry.Outcome{Status: registry.StatusFailed, Error: &registry.ExecError{Type: "T", Details: map[string]any{}}})
		b, err := json.Marshal(e.Error)
		if err != nil || strings.Contains(string(b), "details") {
			t.Fatalf("error JSON %s (%v)", b, err)
		}
	})
	t.Run("the execution's details are its own copy", func(t *testing.T) {
		details := map[string]any{registry.DetailRunnerTraceback: "tb"}
		e := registry.Execution{}.Finished(registry.Outcome{Status: registry.StatusFailed, Error: &registry.ExecError{Type: "T", Details: details}})
		details[registry.DetailRunnerTraceback] = "changed"
		if got := e.Error.Details[registry.DetailRunnerTraceback]; got != "tb" {
			t.Fatalf("details changed with the outcome's map: %v", got)
		}
	})
}
