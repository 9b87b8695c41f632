package registry_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

func codeOf(err error) registry.Code {
	if err == nil {
		return ""
	}
	return registry.CodeOf(err)
}

func TestNames(t *testing.T) {
	long := strings.Repeat("a", 129)
	tests := []struct {
		name string
		err  error
		want registry.Code
	}{
		{"a plain flow name is valid", registry.ValidateFlowName("research_agent"), ""},
		{"a flow name of 128 characters is valid", registry.ValidateFlowName(long[:128]), ""},
		{"a flow name of 129 characters is refused", registry.ValidateFlowName(long), registry.CodeInvalidArgument},
		{"an empty flow name is refused", registry.ValidateFlowName(""), registry.CodeInvalidArgument},
		{"a flow name with :: is refused", registry.ValidateFlowName("a::b"), registry.CodeInvalidArgument},
		{"a flow name starting with a digit is refused", registry.ValidateFlowName("1flow"), registry.CodeInvalidArgument},
		{"a flow name with a slash is refused", registry.ValidateFlowName("a/b"), registry.CodeInvalidArgument},
		{"a tag with dots and dashes is valid", registry.ValidateTagName("v1.2-rc_3"), ""},
		{"a tag starting with a digit is valid", registry.ValidateTagName("2024"), ""},
		{"an empty tag is refused", registry.ValidateTagName(""), registry.CodeInvalidArgument},
		{"a tag with a space is refused", registry.ValidateTagName("a b"), registry.CodeInvalidArgument},
		{"a tag starting with a dash is refused", registry.ValidateTagName("-x"), registry.CodeInvalidArgument},
		{"a tag of 64 characters is refused", registry.ValidateTagName(long[:64]), registry.CodeInvalidArgument},
		{"version 0 is refused", registry.ValidateVersion(0), registry.CodeInvalidArgument},
		{"a negative version is refused", registry.ValidateVersion(-1), registry.CodeInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(tt.err); got != tt.want {
				t.Fatalf("got %q (%v), want %q", got, tt.err, tt.want)
			}
		})
	}
}

func TestParseVersion(t *testing.T) {
	for _, s := range []string{"0", "-1", "abc", "1.5", "", "99999999999999999999"} {
		t.Run("version "+s+" is refused", func(t *testing.T) {
			if _, err := registry.ParseVersion(s); codeOf(err) != registry.CodeInvalidArgument {
				t.Fatalf("got %v", err)
			}
		})
	}
	if v, err := registry.ParseVersion("12"); err != nil || v != 12 {
		t.Fatalf("12: %d %v", v, err)
	}
}

func TestSnapshotNames(t *testing.T) {
	t.Run("a snapshot name round-trips", func(t *testing.T) {
		name := registry.SnapshotName("research_agent", 3)
		if name != "kitaru::research_agent::v3" {
			t.Fatalf("got %q", name)
		}
		flow, v, err := registry.ParseSnapshotName(name)
		if err != nil || flow != "research_agent" || v != 3 {
			t.Fatalf("got %q %d %v", flow, v, err)
		}
	})
	for _, bad := range []string{"research_agent::v3", "kitaru::research_agent::3", "kitaru::a::v0", "kitaru::a::v01", "kitaru::a::b::v1", "kitaru::::v1"} {
		t.Run(bad+" is not a snapshot name", func(t *testing.T) {
			if _, _, err := registry.ParseSnapshotName(bad); err == nil {
				t.Fatal("parsed")
			}
		})
	}
}

func TestSelector(t *testing.T) {
	t.Run("neither tag nor version means default", func(t *testing.T) {
		s := registry.Selector{}
		if err := s.Normalize(); err != nil || s.Tag != "default" {
			t.Fatalf("%+v %v", s, err)
		}
	})
	t.Run("tag and version together are refused", func(t *testing.T) {
		s := registry.Selector{Tag: "stable", Version: 2}
		if codeOf(s.Normalize()) != registry.CodeInvalidArgument {
			t.Fatal("accepted")
		}
	})
}

func TestInputs(t *testing.T) {
	big := `{"x":"` + strings.Repeat("a", registry.MaxInputsBytes) + `"}`
	tests := []struct {
		name, in, want string
		code           registry.Code
	}{
		{"absent inputs become an empty object", "", "{}", ""},
		{"null inputs become an empty object", "null", "{}", ""},
		{"an object is compacted", `{ "topic" : "x" }`, `{"topic":"x"}`, ""},
		{"an array is refused", `[1]`, "", registry.CodeInvalidArgument},
		{"a string is refused", `"x"`, "", registry.CodeInvalidArgument},
		{"a number is refused", `3`, "", registry.CodeInvalidArgument},
		{"malformed JSON is refused", `{"a":`, "", registry.CodeInvalidArgument},
		{"inputs over 256 KiB are too large", big, "", registry.CodePayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := registry.NormalizeInputs(json.RawMessage(tt.in))
			if codeOf(err) != tt.code || (err == nil && string(got) != tt.want) {
				t.Fatalf("got %s %v", got, err)
			}
		})
	}
	t.Run("invoke inputs override deploy inputs key by key", func(t *testing.T) {
		got, err := registry.MergeInputs(json.RawMessage(`{"topic":"a","depth":2}`), json.RawMessage(`{"topic":"b"}`))
		if err != nil || string(got) != `{"depth":2,"topic":"b"}` {
			t.Fatalf("got %s %v", got, err)
		}
	})
}

func TestDeployRequestNormalize(t *testing.T) {
	t.Run("no tag means default, and default is exclusive", func(t *testing.T) {
		r := registry.DeployRequest{Project: "p", Flow: "f", Entrypoint: "f.py:f"}
		if err := r.Normalize(); err != nil || r.Tag != "default" || !r.Exclusive {
			t.Fatalf("%+v %v", r, err)
		}
	})
	t.Run("an explicit shared default is coerced to exclusive", func(t *testing.T) {
		r := registry.DeployRequest{Project: "p", Flow: "f", Entrypoint: "f.py:f", Tag: "default"}
		if err := r.Normalize(); err != nil || !r.Exclusive {
			t.Fatalf("%+v %v", r, err)
		}
	})
	t.Run("an empty entrypoint is refused", func(t *testing.T) {
		r := registry.DeployRequest{Project: "p", Flow: "f"}
		if codeOf(r.Normalize()) != registry.CodeInvalidArgument {
			t.Fatal("accepted")
		}
	})
	t.Run("an input schema that is not an object is refused", func(t *testing.T) {
		r := registry.DeployRequest{Project: "p", Flow: "f", Entrypoint: "f.py:f", InputSchema: json.RawMessage(`[]`)}
		if codeOf(r.Normalize()) != registry.CodeInvalidArgument {
			t.Fatal("accepted")
		}
	})
}

func TestResolveRoutes(t *testing.T) {
	routes := registry.Routes{
		"stable": {Name: "stable", Exclusive: true, Versions: []int{2}},
		"bench":  {Name: "bench", Versions: []int{1, 2}},
		"solo":   {Name: "solo", Versions: []int{3}},
	}
	tests := []struct {
		name        string
		routes      registry.Routes
		sel         registry.Selector
		deployments bool
		want        int
		code        registry.Code
		mentions    string
	}{
		{"a flow without deployments says so", routes, registry.Selector{Tag: "default"}, false, 0, registry.CodeNotFound, "has no deployments"},
		{"deployments without a default route say how to fix it", routes, registry.Selector{Tag: "default"}, true, 0, registry.CodeNotFound, "move default to a version"},
		{"an unknown explicit tag names the tag", routes, registry.Selector{Tag: "nope"}, true, 0, registry.CodeNotFound, `"nope"`},
		{"a shared tag on two versions lists them", routes, registry.Selector{Tag: "bench"}, true, 0, registry.CodeConflict, "versions 1 and 2"},
		{"a shared tag on one version resolves", routes, registry.Selector{Tag: "solo"}, true, 3, "", ""},
		{"an exclusive tag resolves", routes, registry.Selector{Tag: "stable"}, true, 2, "", ""},
		{"a version resolves to itself", routes, registry.Selector{Version: 7}, true, 7, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.routes.Resolve("research_agent", tt.sel, tt.deployments)
			if codeOf(err) != tt.code || got != tt.want {
				t.Fatalf("got %d %v", got, err)
			}
			if tt.mentions != "" && !strings.Contains(err.Error(), tt.mentions) {
				t.Fatalf("%q does not mention %q", err, tt.mentions)
			}
		})
	}
	t.Run("the ambiguous tag conflict names no CLI flag and carries its reason", func(t *testing.T) {
		_, err := routes.Resolve("research_agent", registry.Selector{Tag: "bench"}, true)
		var re *registry.Error
		if !errors.As(err, &re) {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(re.Message, "--") || !strings.Contains(re.Message, "version=N") {
			t.Errorf("the message must fit every surface and say how to pick a version: %q", re.Message)
		}
		if re.Details[registry.DetailReason] != registry.ReasonAmbiguousTag {
			t.Errorf("details = %v, want reason %s", re.Details, registry.ReasonAmbiguousTag)
		}
	})
	t.Run("a version's tags and its exclusive tags", func(t *testing.T) {
		if diff := cmp.Diff(map[string]bool{"stable": true, "bench": false}, routes.TagsOf(2)); diff != "" {
			t.Fatal(diff)
		}
		if diff := cmp.Diff([]string{"stable"}, routes.ExclusiveTagsOf(2)); diff != "" {
			t.Fatal(diff)
		}
	})
}

func TestStacks(t *testing.T) {
	stacks, err := registry.ParseStacks("dev,local:local-only", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a deploy without a stack uses the default", func(t *testing.T) {
		if s, err := stacks.Choose(""); err != nil || s.Name != "dev" {
			t.Fatalf("%+v %v", s, err)
		}
	})
	t.Run("a stack that is not remote-executable is refused naming the ones that are", func(t *testing.T) {
		_, err := stacks.Choose("local")
		if codeOf(err) != registry.CodeUnprocessable || !strings.Contains(err.Error(), "dev") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("an unknown stack is refused", func(t *testing.T) {
		if _, err := stacks.Choose("mars"); codeOf(err) != registry.CodeInvalidArgument {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a default that cannot execute remotely is a configuration error", func(t *testing.T) {
		if _, err := registry.ParseStacks("dev,local:local-only", "local"); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("an unknown stack flag is refused", func(t *testing.T) {
		if _, err := registry.ParseStacks("dev:fast", ""); err == nil {
			t.Fatal("accepted")
		}
	})
}

func TestErrorsMatchByCode(t *testing.T) {
	err := registry.Errorf(registry.CodeNotFound, "flow %q has no deployments", "x")
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, registry.ErrNotFound) || errors.Is(wrapped, registry.ErrConflict) {
		t.Fatal("errors.Is does not match by code")
	}
}

func TestVersionsPhrase(t *testing.T) {
	tests := []struct {
		name string
		vs   []int
		want string
	}{
		{"none reads as no version", nil, "no version"},
		{"one is singular", []int{4}, "version 4"},
		{"two are joined with and", []int{1, 2}, "versions 1 and 2"},
		{"three take commas and a final and", []int{1, 2, 3}, "versions 1, 2 and 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := registry.VersionsPhrase(tt.vs); got != tt.want {
				t.Errorf("VersionsPhrase(%v) = %q, want %q", tt.vs, got, tt.want)
			}
		})
	}
}
