package registry_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
)

func TestParseSplit(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       registry.Split
		ok         bool
	}{
		{"two versions by weight", "3=90,4=10", registry.Split{3: 90, 4: 10}, true},
		{"spaces are allowed", " 3 = 50 , 4=50", registry.Split{3: 50, 4: 50}, true},
		{"eight versions are the most", "1=10,2=10,3=10,4=10,5=10,6=10,7=10,8=30", registry.Split{1: 10, 2: 10, 3: 10, 4: 10, 5: 10, 6: 10, 7: 10, 8: 30}, true},
		{"nine versions are too many", "1=10,2=10,3=10,4=10,5=10,6=10,7=10,8=20,9=10", nil, false},
		{"one version is no split", "3=100", nil, false},
		{"weights must sum to 100", "3=90,4=20", nil, false},
		{"a weight of 0 is refused", "3=100,4=0", nil, false},
		{"a version twice is refused", "3=50,3=50", nil, false},
		{"garbage is refused", "3:90,4:10", nil, false},
		{"version 0 is refused", "0=50,1=50", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := registry.ParseSplit(c.text)
			if !c.ok {
				var re *registry.Error
				if err == nil || !errors.As(err, &re) || re.Code != registry.CodeInvalidArgument || re.Details[registry.DetailReason] != registry.ReasonInvalidSplit {
					t.Fatalf("ParseSplit(%q) = %v, %v; want invalid_argument with reason invalid_split", c.text, got, err)
				}
				return
			}
			if err != nil || !got.Equal(c.want) {
				t.Fatalf("ParseSplit(%q) = %v, %v; want %v", c.text, got, err, c.want)
			}
			if again, err := registry.ParseSplit(got.String()); err != nil || !again.Equal(got) {
				t.Fatalf("String %q does not parse back: %v, %v", got.String(), again, err)
			}
		})
	}
}

func TestPickWalksTheMembersAscending(t *testing.T) {
	s := registry.Split{4: 10, 3: 90}
	for bucket := range registry.SplitBuckets {
		want := 3
		if bucket >= 90 {
			want = 4
		}
		if got := s.Pick(bucket); got != want {
			t.Fatalf("bucket %d picked v%d, want v%d", bucket, got, want)
		}
	}
}

// Shifting weight from one member to another moves only the keys whose
// buckets changed hands: every other key keeps its version.
func TestShiftingWeightMovesOnlyTheShiftedKeys(t *testing.T) {
	before, after := registry.Split{3: 90, 4: 10}, registry.Split{3: 80, 4: 20}
	moved := 0
	const keys = 10000
	for i := range keys {
		b := registry.StickyBucket("research", "live", fmt.Sprintf("user-%d", i))
		from, to := before.Pick(b), after.Pick(b)
		switch {
		case from == to:
		case from == 3 && to == 4 && b >= 80 && b < 90:
			moved++
		default:
			t.Fatalf("key in bucket %d moved v%d -> v%d", b, from, to)
		}
	}
	// About a tenth of the keys sit in the ten shifted buckets.
	if moved < keys*8/100 || moved > keys*12/100 {
		t.Fatalf("%d of %d keys moved, want about 10%%", moved, keys)
	}
}

func TestStickyBucketIsStableAndSpread(t *testing.T) {
	// Pinned: a bucket must not change between builds or processes, or
	// sticky users would hop versions on an upgrade. The tag is part of the
	// hash, so one key spreads independently over different tags.
	if got := registry.StickyBucket("research", "live", "user-42"); got != 70 {
		t.Fatalf("bucket of user-42 on research/live = %d, want 70 (FNV-1a of flow NUL tag NUL key, mod 100)", got)
	}
	if got := registry.StickyBucket("research", "canary", "user-42"); got != 44 {
		t.Fatalf("bucket of user-42 on research/canary = %d, want 44", got)
	}
	counts := make([]int, registry.SplitBuckets)
	for i := range 100000 {
		counts[registry.StickyBucket("f", "t", fmt.Sprint(i))]++
	}
	for b, n := range counts {
		if n < 800 || n > 1200 {
			t.Fatalf("bucket %d holds %d of 100000 keys, want about 1000", b, n)
		}
	}
}

func TestRouteSplitTransitions(t *testing.T) {
	free := registry.Route{Flow: "f", Tag: "live", Exclusive: true}
	split := registry.Split{1: 60, 2: 40}
	r, err := free.MoveSplit(split, 5)
	if err != nil || !r.Split.Equal(split) || r.Revision != 1 || r.Clock != 5 || !r.Holds(1) || !r.Holds(2) {
		t.Fatalf("MoveSplit on a free route = %+v, %v", r, err)
	}
	t.Run("the same split again is a no-op", func(t *testing.T) {
		if again, err := r.MoveSplit(registry.Split{1: 60, 2: 40}, 6); err != nil || again.Revision != r.Revision {
			t.Fatalf("= %+v, %v", again, err)
		}
	})
	t.Run("a split with an older clock is superseded", func(t *testing.T) {
		if _, err := r.MoveSplit(registry.Split{1: 50, 2: 50}, 4); registry.CodeOf(err) != registry.CodeConflict {
			t.Fatalf("err = %v, want conflict", err)
		}
	})
	t.Run("moving to a member collapses the split", func(t *testing.T) {
		m, err := r.Move(1, 7)
		if err != nil || m.Split != nil || len(m.Versions) != 1 || m.Versions[0] != 1 || m.Revision != 2 {
			t.Fatalf("= %+v, %v", m, err)
		}
	})
	t.Run("a member cannot leave alone", func(t *testing.T) {
		_, err := r.Remove(2, 7)
		var re *registry.Error
		if !errors.As(err, &re) || re.Details[registry.DetailReason] != registry.ReasonTagSplit {
			t.Fatalf("err = %v, want tag_split", err)
		}
	})
	t.Run("a split on a shared route is a mode clash", func(t *testing.T) {
		shared := registry.Route{Flow: "f", Tag: "bench", Versions: []int{1}, Revision: 1, Clock: 1}
		if _, err := shared.MoveSplit(split, 9); registry.CodeOf(err) != registry.CodeConflict {
			t.Fatalf("err = %v, want conflict", err)
		}
	})
	t.Run("a split request on a shared tag is invalid", func(t *testing.T) {
		req := registry.TagRequest{Project: "p", Flow: "f", Tag: "bench", Split: split}
		var re *registry.Error
		if err := req.Normalize(); !errors.As(err, &re) || re.Details[registry.DetailReason] != registry.ReasonSplitShared {
			t.Fatalf("err = %v, want split_shared", err)
		}
	})
	t.Run("rollback returns the split the last change left", func(t *testing.T) {
		v, s, err := registry.RollbackTarget("f", "live", &registry.RouteChange{Exclusive: true, FromSplit: split})
		if err != nil || v != 0 || !s.Equal(split) {
			t.Fatalf("= %d, %v, %v", v, s, err)
		}
	})
}
