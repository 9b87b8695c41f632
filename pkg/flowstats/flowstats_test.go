package flowstats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/flowstats"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sqlstore"
)

func seconds(ss ...float64) []time.Duration {
	ds := make([]time.Duration, len(ss))
	for i, s := range ss {
		ds[i] = time.Duration(s * float64(time.Second))
	}
	return ds
}

func TestPercentileIsTheNearestRank(t *testing.T) {
	oneToTwenty := make([]float64, 20)
	for i := range oneToTwenty {
		oneToTwenty[i] = float64(i + 1)
	}
	for _, tt := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no values have no percentile", nil, 50, -1},
		{"one value is every percentile", seconds(7), 95, 7 * time.Second},
		{"the median of four is the second", seconds(1, 2, 3, 4), 50, 2 * time.Second},
		{"the median of five is the third", seconds(1, 2, 3, 4, 100), 50, 3 * time.Second},
		{"p95 of twenty is the nineteenth", seconds(oneToTwenty...), 95, 19 * time.Second},
		{"p95 of ten is the largest", seconds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 95, 10 * time.Second},
		{"p50 of twenty is the tenth", seconds(oneToTwenty...), 50, 10 * time.Second},
		{"p100 is the largest", seconds(1, 2, 3), 100, 3 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := flowstats.Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %g) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

// slowStore is a real store whose every execution page takes a second of
// the answer's clock.
type slowStore struct {
	*sqlstore.Store
	now *time.Time
}

func (s slowStore) ListExecutionsBy(ctx context.Context, project, flow string, f registry.ExecutionFilter, p registry.PageRequest) (registry.Page[registry.Execution], error) {
	*s.now = s.now.Add(time.Second)
	return s.Store.ListExecutionsBy(ctx, project, flow, f, p)
}

func TestAReadOverItsTimeBudgetStopsAndSaysSo(t *testing.T) {
	ctx := context.Background()
	store, err := sqlstore.Open(sqlstore.Memory)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Deploy(ctx, registry.DeployRequest{Project: "p", Flow: "busy", Entrypoint: "f.py:busy", Stack: "dev", By: "t"}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	const n = 3*registry.MaxPageSize + 10
	for i := range n {
		e := registry.Execution{Project: "p", Flow: "busy", ExecID: fmt.Sprintf("ex_%026d", i), Version: 1, Snapshot: "kitaru::busy::v1",
			Status: registry.StatusRunning, Inputs: json.RawMessage(`{}`), StartedAt: now.Add(time.Duration(i-n) * time.Second)}
		if _, _, err := store.CreateExecution(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	clock := now
	svc := flowstats.Service{Store: slowStore{store, &clock}, Now: func() time.Time { return clock }, ReadBudget: 2 * time.Second}
	st, err := svc.Stats(ctx, flowstats.Query{Project: "p", Flow: "busy"})
	if err != nil {
		t.Fatal(err)
	}
	// Pages end at 1 s and 2 s: the budget is spent before the third.
	if st.Read != 2*registry.MaxPageSize || !st.Sampled || st.OldestSeen == nil {
		t.Fatalf("read %d sampled %v oldest_seen %v, want %d records, sampled", st.Read, st.Sampled, st.OldestSeen, 2*registry.MaxPageSize)
	}

	clock = now
	svc.ReadBudget = time.Hour
	if st, err = svc.Stats(ctx, flowstats.Query{Project: "p", Flow: "busy"}); err != nil || st.Read != n || st.Sampled {
		t.Fatalf("with time to spare: read %d sampled %v err %v, want all %d", st.Read, st.Sampled, err, n)
	}
}
