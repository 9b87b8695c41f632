// Package secretstest is the conformance suite every secrets.Store adapter
// passes: the local file and memory stores and Secrets Manager.
package secretstest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
)

// Run runs the suite; newStore returns an empty store for each subtest.
func Run(t *testing.T, newStore func(t *testing.T) secrets.Store) {
	ctx := context.Background()
	t.Run("a set secret is listed by name and resolved to its value", func(t *testing.T) {
		s := newStore(t)
		info, err := s.Set(ctx, "p1", "OPENAI_API_KEY", "sk-one")
		if err != nil {
			t.Fatal(err)
		}
		if info.Name != "OPENAI_API_KEY" || info.UpdatedAt.IsZero() {
			t.Errorf("Set answered %+v; want the name and an update time", info)
		}
		list, err := s.List(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Name != "OPENAI_API_KEY" {
			t.Errorf("List = %+v; want OPENAI_API_KEY only", list)
		}
		got, err := s.Resolve(ctx, "p1", []string{"OPENAI_API_KEY"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"OPENAI_API_KEY": "sk-one"}, got); diff != "" {
			t.Errorf("Resolve (-want +got):\n%s", diff)
		}
	})
	t.Run("setting a secret again replaces its value", func(t *testing.T) {
		s := newStore(t)
		mustSet(t, s, "p1", "TOKEN", "old")
		mustSet(t, s, "p1", "TOKEN", "new value with spaces = and \n newline")
		got, err := s.Resolve(ctx, "p1", []string{"TOKEN"})
		if err != nil {
			t.Fatal(err)
		}
		if got["TOKEN"] != "new value with spaces = and \n newline" {
			t.Errorf("Resolve after a second Set = %q; want the new value", got["TOKEN"])
		}
	})
	t.Run("secrets of one project are invisible to another", func(t *testing.T) {
		s := newStore(t)
		mustSet(t, s, "p1", "TOKEN", "v")
		list, err := s.List(ctx, "p2")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 0 {
			t.Errorf("List of another project = %+v; want none", list)
		}
		if _, err := s.Resolve(ctx, "p2", []string{"TOKEN"}); registry.CodeOf(err) != registry.CodeUnprocessable {
			t.Errorf("Resolve in another project: %v; want unprocessable", err)
		}
		if err := s.Delete(ctx, "p2", "TOKEN"); registry.CodeOf(err) != registry.CodeNotFound {
			t.Errorf("Delete in another project: %v; want not_found", err)
		}
	})
	t.Run("resolving names some missing secrets refuses naming every missing one", func(t *testing.T) {
		s := newStore(t)
		mustSet(t, s, "p1", "A_KEY", "a")
		_, err := s.Resolve(ctx, "p1", []string{"A_KEY", "B_KEY", "C_KEY"})
		var e *registry.Error
		if !errors.As(err, &e) || e.Code != registry.CodeUnprocessable {
			t.Fatalf("Resolve with missing secrets: %v; want unprocessable", err)
		}
		if !strings.Contains(e.Message, "B_KEY, C_KEY") || e.Details[registry.DetailReason] != registry.ReasonSecretMissing {
			t.Errorf("error %q %v; want it to name B_KEY, C_KEY with reason %s", e.Message, e.Details, registry.ReasonSecretMissing)
		}
	})
	t.Run("a deleted secret is gone and deleting it again is not_found", func(t *testing.T) {
		s := newStore(t)
		mustSet(t, s, "p1", "TOKEN", "v")
		mustSet(t, s, "p1", "OTHER", "w")
		if err := s.Delete(ctx, "p1", "TOKEN"); err != nil {
			t.Fatal(err)
		}
		list, _ := s.List(ctx, "p1")
		if len(list) != 1 || list[0].Name != "OTHER" {
			t.Errorf("List after delete = %+v; want OTHER only", list)
		}
		if err := s.Delete(ctx, "p1", "TOKEN"); registry.CodeOf(err) != registry.CodeNotFound {
			t.Errorf("second Delete: %v; want not_found", err)
		}
	})
	t.Run("list is sorted by name", func(t *testing.T) {
		s := newStore(t)
		for _, n := range []string{"ZED", "ALPHA", "MIDDLE"} {
			mustSet(t, s, "p1", n, "v")
		}
		list, _ := s.List(ctx, "p1")
		var names []string
		for _, i := range list {
			names = append(names, i.Name)
		}
		if diff := cmp.Diff([]string{"ALPHA", "MIDDLE", "ZED"}, names); diff != "" {
			t.Errorf("List order (-want +got):\n%s", diff)
		}
	})
	for _, tc := range []struct {
		name, secret, value string
		code                registry.Code
	}{
		{"a lower-case name is refused", "openai_key", "s3cr3t", registry.CodeInvalidArgument},
		{"a reserved AWS_ name is refused", "AWS_SECRET_ACCESS_KEY", "s3cr3t", registry.CodeInvalidArgument},
		{"a reserved KITARU_ name is refused", "KITARU_SIGNING_KEY", "s3cr3t", registry.CodeInvalidArgument},
		{"PATH is refused", "PATH", "s3cr3t", registry.CodeInvalidArgument},
		{"an empty value is refused", "TOKEN", "", registry.CodeInvalidArgument},
		{"a value with a NUL byte is refused", "TOKEN", "a\x00b", registry.CodeInvalidArgument},
		{"a value over the limit is refused", "TOKEN", strings.Repeat("x", secrets.MaxValueBytes+1), registry.CodePayloadTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			_, err := s.Set(ctx, "p1", tc.secret, tc.value)
			if registry.CodeOf(err) != tc.code {
				t.Fatalf("Set: %v; want %s", err, tc.code)
			}
			if tc.value != "" && len(tc.value) < 100 && strings.Contains(err.Error(), tc.value+"\"") {
				t.Errorf("the error quotes the value: %v", err)
			}
			if list, _ := s.List(ctx, "p1"); len(list) != 0 {
				t.Errorf("a refused Set stored %+v", list)
			}
		})
	}
}

func mustSet(t *testing.T, s secrets.Store, project, name, value string) {
	t.Helper()
	if _, err := s.Set(context.Background(), project, name, value); err != nil {
		t.Fatalf("Set %s: %v", name, err)
	}
}
