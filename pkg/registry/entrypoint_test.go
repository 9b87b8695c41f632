package registry_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

// entrypointCases is the table runner.py's tests read too, so the deploy-time
// rule and the run-time rule cannot drift apart.
type entrypointCases struct {
	Valid   [][3]string `json:"valid"`
	Invalid []string    `json:"invalid"`
}

func loadEntrypointCases(t testing.TB) entrypointCases {
	t.Helper()
	data, err := os.ReadFile("../../functions/runner/entrypoint_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases entrypointCases
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func TestDeployRefusesEntrypointsThatCannotRun(t *testing.T) {
	cases := loadEntrypointCases(t)
	deploy := func(entrypoint string) (registry.DeployRequest, error) {
		r := registry.DeployRequest{Project: "p", Flow: "f", Entrypoint: entrypoint}
		return r, r.Normalize()
	}
	for _, c := range cases.Valid {
		t.Run("deploying "+c[0]+" saves the cleaned entrypoint", func(t *testing.T) {
			r, err := deploy(c[0])
			if err != nil {
				t.Fatal(err)
			}
			if want := c[1] + ":" + c[2]; r.Entrypoint != want {
				t.Errorf("saved entrypoint %q, want %q", r.Entrypoint, want)
			}
			file, function, err := registry.ParseEntrypoint(c[0])
			if err != nil || file != c[1] || function != c[2] {
				t.Errorf("ParseEntrypoint = %q, %q, %v; want %q, %q", file, function, err, c[1], c[2])
			}
		})
	}
	for _, entrypoint := range cases.Invalid {
		t.Run("deploying "+entrypoint+" is refused naming the rule", func(t *testing.T) {
			_, err := deploy(entrypoint)
			if codeOf(err) != registry.CodeInvalidArgument {
				t.Fatalf("got %v, want invalid_argument", err)
			}
			if !strings.Contains(err.Error(), "path/to/file.py:function") {
				t.Errorf("%q does not state the rule", err)
			}
		})
	}
	t.Run("an entrypoint over 1024 bytes is refused", func(t *testing.T) {
		if _, err := deploy(strings.Repeat("a", 1022) + ".py:f"); codeOf(err) != registry.CodeInvalidArgument {
			t.Fatalf("got %v", err)
		}
	})
}
