package httpapi_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/flowstats"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestFlowStats(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	h := f.handler(httpapi.Config{Now: func() time.Time { return now }, Executions: f.store})
	for _, flow := range []string{"watched", "quiet"} {
		if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: "team-a", Flow: flow, Entrypoint: "f.py:" + flow, Stack: "dev", By: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, status := range []registry.ExecStatus{registry.StatusCompleted, registry.StatusFailed, registry.StatusRunning} {
		e := registry.Execution{Project: "team-a", ExecID: "ex_0000000000000000000000000" + string(rune('1'+i)), Flow: "watched",
			Version: 1, Snapshot: registry.SnapshotName("watched", 1), Selector: registry.Selector{Tag: registry.DefaultTag}, Status: registry.StatusRunning,
			Inputs: json.RawMessage(`{}`), StartedAt: now.Add(time.Duration(i-3) * time.Hour), InvokedBy: "bob"}
		if _, _, err := f.store.CreateExecution(ctx, e); err != nil {
			t.Fatal(err)
		}
		if status == registry.StatusRunning {
			continue
		}
		o := registry.Outcome{Status: status, At: e.StartedAt.Add(1500 * time.Millisecond)}
		if status == registry.StatusFailed {
			o.Error = &registry.ExecError{Type: "ValueError", Message: "bad topic"}
		}
		if _, _, err := f.store.FinishExecution(ctx, "team-a", e.ExecID, o); err != nil {
			t.Fatal(err)
		}
	}
	get := func(t *testing.T, target string) flowstats.Stats {
		t.Helper()
		return decode[flowstats.Stats](t, must(t, h, as(request("GET", target, ""), "team-a", "consumer", "bob"), 200))
	}

	t.Run("the route's versions with their outcomes in the last 24 hours", func(t *testing.T) {
		st := get(t, "/v1/flows/watched/stats")
		secs := 1.5
		want := flowstats.Stats{Project: "team-a", Flow: "watched", Since: now.Add(-24 * time.Hour), Until: now, Read: 3,
			Versions: []flowstats.VersionStats{{Version: 1, Tags: []string{"default"}, Started: 3, Completed: 1, Failed: 1, Running: 1,
				P50Seconds: &secs, P95Seconds: &secs,
				LastFailure: &flowstats.Failure{ExecID: "ex_00000000000000000000000002", Type: "ValueError", At: now.Add(-2*time.Hour + 1500*time.Millisecond)}}}}
		if diff := cmp.Diff(want, st); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
	t.Run("since and tag narrow it", func(t *testing.T) {
		st := get(t, "/v1/flows/watched/stats?since=90m&tag=default")
		if len(st.Versions) != 1 || st.Versions[0].Started != 1 || st.Versions[0].Running != 1 || st.Tag != "default" {
			t.Errorf("got %+v, want the one running execution of the last 90 minutes", st)
		}
	})
	t.Run("a flow without executions answers its route at zero", func(t *testing.T) {
		st := get(t, "/v1/flows/quiet/stats?since=720h")
		if diff := cmp.Diff([]flowstats.VersionStats{{Version: 1, Tags: []string{"default"}}}, st.Versions); diff != "" || st.Read != 0 {
			t.Errorf("read %d, rows (-want +got):\n%s", st.Read, diff)
		}
	})
	for _, tt := range []struct {
		name, query string
		status      int
		code        registry.Code
		reason      string
	}{
		{"an unknown flow is not found", "/v1/flows/nobody/stats", 404, registry.CodeNotFound, registry.ReasonNoDeployments},
		{"an unknown tag is not found", "/v1/flows/watched/stats?tag=canary", 404, registry.CodeNotFound, registry.ReasonTagNotFound},
		{"an unknown version is not found", "/v1/flows/watched/stats?version=2", 404, registry.CodeNotFound, registry.ReasonVersionNotFound},
		{"since that is no time or duration", "/v1/flows/watched/stats?since=yesterday", 400, registry.CodeInvalidArgument, registry.ReasonSinceInvalid},
		{"since as a negative duration", "/v1/flows/watched/stats?since=-1h", 400, registry.CodeInvalidArgument, registry.ReasonSinceInvalid},
		{"since further back than 30 days", "/v1/flows/watched/stats?since=721h", 400, registry.CodeInvalidArgument, registry.ReasonSinceOutOfRange},
		{"since in the future", "/v1/flows/watched/stats?since=2026-12-04T00:00:00Z", 400, registry.CodeInvalidArgument, registry.ReasonSinceOutOfRange},
		{"since given twice", "/v1/flows/watched/stats?since=1h&since=2h", 400, registry.CodeInvalidArgument, ""},
		{"a bad version", "/v1/flows/watched/stats?version=x", 400, registry.CodeInvalidArgument, ""},
	} {
		t.Run(tt.name+" is "+tt.code.String(), func(t *testing.T) {
			resp := do(t, h, as(request("GET", tt.query, ""), "team-a", "consumer", "bob"))
			msg := wantError(t, resp, tt.status, tt.code)
			env := decode[api.ErrorBody](t, resp.Body)
			if got, _ := env.Error.Details[registry.DetailReason].(string); got != tt.reason {
				t.Errorf("reason %q, want %q (message %q)", got, tt.reason, msg)
			}
		})
	}
}

// TestFlowStatsWindowOfTheMaximumDurationIsAccepted: since=720h is the
// longest window the error message itself offers. The server's clock moves
// while the request is served, so the duration and the bound must be
// measured from one reading of it.
func TestFlowStatsWindowOfTheMaximumDurationIsAccepted(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	ticking := func() time.Time { // a clock that has moved on at every reading
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	h := f.handler(httpapi.Config{Now: ticking, Executions: f.store})
	if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: "team-a", Flow: "watched", Entrypoint: "f.py:watched", Stack: "dev", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	st := decode[flowstats.Stats](t, must(t, h, as(request("GET", "/v1/flows/watched/stats?since=720h", ""), "team-a", "consumer", "bob"), 200))
	if got := st.Until.Sub(st.Since); got != flowstats.MaxWindow {
		t.Errorf("window %v, want %v", got, flowstats.MaxWindow)
	}
}
