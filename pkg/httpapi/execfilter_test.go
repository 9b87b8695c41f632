package httpapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestListExecutionsFilters(t *testing.T) {
	f := newFixture(t)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	h := f.handler(httpapi.Config{Now: func() time.Time { return now }, Executions: f.store})
	for i, sel := range []registry.Selector{{Tag: "stable"}, {Version: 2}, {Tag: "stable"}, {Tag: "canary"}} {
		e := registry.Execution{Project: "team-a", ExecID: "ex_0000000000000000000000000" + string(rune('1'+i)), Flow: "routed",
			Version: 1 + i%2, Snapshot: registry.SnapshotName("routed", 1+i%2), Selector: sel, Status: registry.StatusRunning,
			Inputs: json.RawMessage(`{}`), StartedAt: now.Add(time.Duration(i-4) * time.Hour), InvokedBy: "alice"}
		if _, _, err := f.store.CreateExecution(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	list := func(t *testing.T, query string) []string {
		t.Helper()
		p := decode[registry.Page[registry.Execution]](t, must(t, h, as(request("GET", "/v1/flows/routed/executions"+query, ""), "team-a", "consumer", "bob"), 200))
		ids := []string{}
		for _, e := range p.Items {
			ids = append(ids, e.ExecID[len(e.ExecID)-1:])
		}
		return ids
	}
	for _, tt := range []struct {
		name, query string
		want        []string
	}{
		{"no filter lists every execution newest first", "", []string{"4", "3", "2", "1"}},
		{"tag lists the executions invoked through it", "?tag=stable", []string{"3", "1"}},
		{"version lists the executions that ran it, however invoked", "?version=2", []string{"4", "2"}},
		{"status filters by state", "?status=running", []string{"4", "3", "2", "1"}},
		{"since as a duration counts back from now", "?since=150m", []string{"4", "3"}},
		{"since as a time", "?since=2026-12-03T06:00:00Z", []string{"4", "3", "2"}},
		{"filters combine", "?tag=stable&version=1&since=3h", []string{"3"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(t, tt.query); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, query := range []string{"?status=done", "?version=0", "?version=x", "?tag=bad%20tag", "?since=yesterday", "?since=-1h", "?since=1h&since=2h"} {
		t.Run("a bad filter "+query+" is invalid_argument", func(t *testing.T) {
			wantError(t, do(t, h, as(request("GET", "/v1/flows/routed/executions"+query, ""), "team-a", "consumer", "bob")), 400, registry.CodeInvalidArgument)
		})
	}
}
