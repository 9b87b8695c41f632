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

func TestSplitTargetTakesLocalPathsAndRefusesWhatCannotRun(t *testing.T) {
	for target, want := range map[string][2]string{
		"flows/research.py:research_agent": {"flows/research.py", "research_agent"},
		"/abs/flows/research.py:agent":     {"/abs/flows/research.py", "agent"},
		"../up/flow.py:f":                  {"../up/flow.py", "f"},
		`C:\proj\flows\agent.py:agent`:     {`C:\proj\flows\agent.py`, "agent"},
		"flows/my flow.py:_private":        {"flows/my flow.py", "_private"},
		"./greet.py:match":                 {"./greet.py", "match"},
	} {
		file, function, err := registry.SplitTarget(target)
		if err != nil || file != want[0] || function != want[1] {
			t.Errorf("SplitTarget(%q) = %q, %q, %v; want %q, %q", target, file, function, err, want[0], want[1])
		}
	}
	for target, why := range map[string]string{
		"":                        `no ":"`,
		"flows/research.py":       `no ":"`,
		"file.py:a::b":            `more than one ":"`,
		"flows/a:b.py:f":          `more than one ":"`,
		"flows/research.py:":      "no function name",
		":f":                      "names no file",
		"flows/:f":                "names no file",
		"flows/research.txt:f":    "does not name a .py file",
		"flows/research.py:a.b":   "Python function name",
		"flows/research.py:1abc":  "Python function name",
		"flows/research.py:class": "Python function name",
		"flows/research.py:a-b":   "Python function name",
	} {
		_, _, err := registry.SplitTarget(target)
		if codeOf(err) != registry.CodeInvalidArgument || !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "path/to/file.py:function") {
			t.Errorf("SplitTarget(%q) = %v; want invalid_argument saying %q and the form", target, err, why)
		}
	}
}
