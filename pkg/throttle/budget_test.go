package throttle_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/ddbcost"
	"github.com/kitaru/deployments/pkg/throttle"
)

func write(pk, sk string, units float64) ddbcost.Access {
	return ddbcost.Access{Table: "t", PK: pk, SK: sk, Write: true, Units: units}
}

func read(pk, sk string, units float64) ddbcost.Access {
	return ddbcost.Access{Table: "t", PK: pk, SK: sk, Consistent: true, Units: units}
}

// admitted sends n requests of a at virtual time t and counts those admitted.
func admitted(b *throttle.Budgets, t time.Duration, n int, a ddbcost.Access) int {
	ok := 0
	for range n {
		if b.Admit(t, true, []ddbcost.Access{a}) < 0 {
			ok++
		}
	}
	return ok
}

func TestBudgetsFollowDynamoDBPartitionLimits(t *testing.T) {
	tests := []struct {
		name  string
		scope throttle.Scope
		run   func(b *throttle.Budgets) int
		want  int
	}{
		{"one item takes 1,000 one-unit writes in a second and throttles the 1,001st", throttle.PerItem,
			func(b *throttle.Budgets) int { return admitted(b, 0, 1001, write("P#a#F#f", "FLOW", 1)) }, 1000},
		{"a partition key takes 3,000 one-unit reads in a second", throttle.PerPartitionKey,
			func(b *throttle.Budgets) int { return admitted(b, 0, 3001, read("P#a#F#f", "FLOW", 1)) }, 3000},
		{"reads and writes share a partition linearly: 1,500 reads leave room for 500 writes", throttle.PerPartitionKey,
			func(b *throttle.Budgets) int {
				admitted(b, 0, 1500, read("P#a#F#f", "FLOW", 1))
				return admitted(b, 0, 501, write("P#a#F#f", "V#1", 1))
			}, 500},
		{"the budget refills after one virtual second", throttle.PerItem,
			func(b *throttle.Budgets) int {
				admitted(b, 0, 1001, write("P#a#F#f", "FLOW", 1))
				return admitted(b, time.Second, 1001, write("P#a#F#f", "FLOW", 1))
			}, 1000},
		{"half a second refills half the budget", throttle.PerItem,
			func(b *throttle.Budgets) int {
				admitted(b, 0, 1000, write("P#a#F#f", "FLOW", 1))
				return admitted(b, 500*time.Millisecond, 1000, write("P#a#F#f", "FLOW", 1))
			}, 500},
		{"per partition key, two items of one key share the budget", throttle.PerPartitionKey,
			func(b *throttle.Budgets) int {
				admitted(b, 0, 1000, write("P#a#F#f", "FLOW", 1))
				return admitted(b, 0, 1, write("P#a#F#f", "E#x", 1))
			}, 0},
		{"per item, another item of the same key has its own budget", throttle.PerItem,
			func(b *throttle.Budgets) int {
				admitted(b, 0, 1000, write("P#a#F#f", "FLOW", 1))
				return admitted(b, 0, 1, write("P#a#F#f", "E#x", 1))
			}, 1},
		{"a two-unit write does not fit in the last unit", throttle.PerItem,
			func(b *throttle.Budgets) int {
				admitted(b, 0, 999, write("P#a#F#f", "FLOW", 1))
				return admitted(b, 0, 1, write("P#a#F#f", "FLOW", 2))
			}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limits := throttle.PartitionLimits()
			limits.Scope = tt.scope
			if got := tt.run(throttle.NewBudgets(limits)); got != tt.want {
				t.Errorf("admitted %d, want %d", got, tt.want)
			}
		})
	}
}

func TestATransactionIsAdmittedWhole(t *testing.T) {
	b := throttle.NewBudgets(throttle.PartitionLimits())
	admitted(b, 0, 1000, write("P#a#F#hot", "FLOW", 1))
	refused := b.Admit(0, true, []ddbcost.Access{write("P#a#F#cold", "FLOW", 2), write("P#a#F#hot", "FLOW", 2)})
	if refused != 1 {
		t.Fatalf("refused access %d, want 1 (the hot one)", refused)
	}
	// The cold item was not charged: its whole second is still there.
	if got := admitted(b, 0, 1001, write("P#a#F#cold", "FLOW", 1)); got != 1000 {
		t.Errorf("cold key admitted %d after the refused transaction, want 1000", got)
	}
	s := b.Stats()
	if s.Throttled["P#*#F#* / FLOW"] != 2 {
		t.Errorf("throttles by pattern %v, want 2 for P#*#F#* / FLOW", s.Throttled)
	}
}

func TestPatternsGroupKeysByKind(t *testing.T) {
	tests := []struct{ name, pk, sk, want string }{
		{"a flow head keeps its kinds", "P#acme#F#hot_1", "FLOW", "P#*#F#* / FLOW"},
		{"a version hides its number", "P#acme#F#hot_1", "V#0000000002", "P#*#F#* / V#*"},
		{"a running-index item hides its shard, time and id", "RUNNING#7", "2026-12-03T16:38:52Z#acme#ex_01", "RUNNING#* / *#*#*"},
		{"a query has no sort key", "P#acme#F#f", "", "P#*#F#* / (query)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := throttle.Pattern(ddbcost.Access{PK: tt.pk, SK: tt.sk}); got != tt.want {
				t.Errorf("Pattern = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestTheTableQuotaCapsTheSumOfItsPartitions: writes spread over keys that
// each stay far under 1,000 WCU still stop at the on-demand table's
// 40,000 write units in a second, and reads have their own 40,000.
func TestTheTableQuotaCapsTheSumOfItsPartitions(t *testing.T) {
	b := throttle.NewBudgets(throttle.PartitionLimits())
	ok := 0
	for i := range 40_001 {
		ok += admitted(b, 0, 1, write(fmt.Sprintf("P#a#E#%d", i), "EXEC", 1))
	}
	if ok != 40_000 {
		t.Fatalf("admitted %d one-unit writes to distinct keys in one second, want 40,000", ok)
	}
	if got := b.Stats().Throttled["table write quota"]; got != 1 {
		t.Errorf("table write quota throttles %d, want 1", got)
	}
	if got := admitted(b, 0, 1, read("P#a#E#0", "EXEC", 1)); got != 1 {
		t.Errorf("a read after the writes' quota ran out was refused: reads have their own")
	}
	if got := admitted(b, time.Second, 1, write("P#a#E#x", "EXEC", 1)); got != 1 {
		t.Errorf("a write a second later was refused: the quota refills")
	}
}
