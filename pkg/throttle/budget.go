package throttle

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kitaru/deployments/pkg/ddbcost"
)

// Scope says which ceiling a budget models; see the package comment.
type Scope int

const (
	// PerPartitionKey gives every partition key one budget, shared by all
	// its items: the ceiling of a key DynamoDB has not split by sort key.
	PerPartitionKey Scope = iota
	// PerItem gives every item its own budget: the ceiling once adaptive
	// capacity has split a hot key's items as far as it can.
	PerItem
)

// String names the scope as the report prints it.
func (s Scope) String() string {
	if s == PerItem {
		return "per item"
	}
	return "per partition key"
}

// Limits are the per-second ceilings of one budget.
type Limits struct {
	// ReadUnits and WriteUnits a budget serves per second, alone; mixed
	// traffic gets a linear combination of both.
	ReadUnits, WriteUnits float64
	Scope                 Scope
	// TableReadUnits and TableWriteUnits cap each table's reads and
	// writes per second, separately, over all its partitions; 0 is no cap.
	TableReadUnits, TableWriteUnits float64
}

// PartitionLimits are DynamoDB's documented ceilings: 3,000 read units or
// 1,000 write units per second per partition key, and an on-demand table's
// default quota of 40,000 read and 40,000 write request units per second
// ("Quotas in Amazon DynamoDB", Read/write throughput: per table, on-demand;
// adjustable through Service Quotas).
func PartitionLimits() Limits {
	return Limits{ReadUnits: 3000, WriteUnits: 1000, Scope: PerPartitionKey, TableReadUnits: 40000, TableWriteUnits: 40000}
}

// Budgets charges accesses to per-partition-key or per-item budgets in
// virtual time. It is safe for concurrent use.
type Budgets struct {
	limits Limits

	mu        sync.Mutex
	buckets   map[string]*bucket
	latest    time.Duration
	throttled map[string]int64 // by key pattern
	admitted  int64
	units     struct{ read, write float64 }
}

// NewBudgets returns full budgets with limits.
func NewBudgets(limits Limits) *Budgets {
	return &Budgets{limits: limits, buckets: map[string]*bucket{}, throttled: map[string]int64{}}
}

// budgetKey is the budget an access draws on.
func (b *Budgets) budgetKey(a ddbcost.Access) string {
	if b.limits.Scope == PerItem {
		return a.Table + "\x00" + a.PK + "\x00" + a.SK
	}
	return a.Table + "\x00" + a.PK
}

// bucket is the budget named k, full when first used: one second of the
// limits, refilled at one second per second.
func (b *Budgets) bucket(k string) *bucket {
	bk := b.buckets[k]
	if bk == nil {
		bk = newBucket(1, 1)
		b.buckets[k] = bk
	}
	return bk
}

// cost is the share of one budget-second an access takes.
func (b *Budgets) cost(a ddbcost.Access) float64 {
	if a.Write {
		return a.Units / b.limits.WriteUnits
	}
	return a.Units / b.limits.ReadUnits
}

// Admit charges accesses, all or nothing, at virtual time t (ok=false: no
// time given, use the latest seen). It returns the index of the first
// access whose budget cannot pay, or -1 when all were charged.
func (b *Budgets) Admit(t time.Duration, ok bool, accesses []ddbcost.Access) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !ok {
		t = b.latest
	}
	b.latest = max(b.latest, t)
	need := map[string]float64{}
	for _, a := range accesses {
		need[b.budgetKey(a)] += b.cost(a)
		if k, c, ok := b.tableCost(a); ok {
			need[k] += c
		}
	}
	for i, a := range accesses {
		k := b.budgetKey(a)
		if !b.bucket(k).has(t, need[k]) {
			b.throttled[Pattern(a)]++
			return i
		}
		if k, _, ok := b.tableCost(a); ok && !b.bucket(k).has(t, need[k]) {
			b.throttled[tablePattern(a)]++
			return i
		}
	}
	b.charge(accesses)
	b.admitted++
	return -1
}

// Settle charges what accesses really cost beyond what Admit charged for
// them (sizes a request does not show: a read's answer, an update's item);
// Units may be negative to give back an overestimate.
func (b *Budgets) Settle(accesses []ddbcost.Access) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.charge(accesses)
}

// tableCost is the share of its table's read or write budget-second an
// access takes, and that budget's key; ok=false when the table is uncapped.
func (b *Budgets) tableCost(a ddbcost.Access) (key string, cost float64, ok bool) {
	if a.Write && b.limits.TableWriteUnits > 0 {
		return "\x01table\x00w\x00" + a.Table, a.Units / b.limits.TableWriteUnits, true
	}
	if !a.Write && b.limits.TableReadUnits > 0 {
		return "\x01table\x00r\x00" + a.Table, a.Units / b.limits.TableReadUnits, true
	}
	return "", 0, false
}

// tablePattern names a table-level refusal in Stats.Throttled.
func tablePattern(a ddbcost.Access) string {
	if a.Write {
		return "table write quota"
	}
	return "table read quota"
}

func (b *Budgets) charge(accesses []ddbcost.Access) {
	for _, a := range accesses {
		if k, c, ok := b.tableCost(a); ok {
			b.bucket(k).take(c)
		}
		b.bucket(b.budgetKey(a)).take(b.cost(a))
		if a.Write {
			b.units.write += a.Units
		} else {
			b.units.read += a.Units
		}
	}
}

// Stats is what the budgets saw.
type Stats struct {
	// Admitted counts requests charged; Throttled counts refusals by the
	// key pattern (Pattern) of the access that could not be paid.
	Admitted  int64
	Throttled map[string]int64
	// ReadUnits and WriteUnits consumed by admitted requests.
	ReadUnits, WriteUnits float64
}

// TotalThrottled sums Throttled.
func (s Stats) TotalThrottled() int64 {
	var n int64
	for _, v := range s.Throttled {
		n += v
	}
	return n
}

// String lists throttles by key pattern, most first.
func (s Stats) String() string {
	keys := make([]string, 0, len(s.Throttled))
	for k := range s.Throttled {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.Throttled[keys[i]] > s.Throttled[keys[j]] })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, s.Throttled[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Stats returns a snapshot.
func (b *Budgets) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := Stats{Admitted: b.admitted, Throttled: make(map[string]int64, len(b.throttled)),
		ReadUnits: b.units.read, WriteUnits: b.units.write}
	for k, v := range b.throttled {
		s.Throttled[k] = v
	}
	return s
}

// Pattern is an access's key with the names and values in it replaced by
// *, so that throttles group by kind of item: P#acme#F#hot / FLOW becomes
// P#*#F#* / FLOW. Keys are #-separated; a part in capitals (P, F, FLOW,
// RUNNING) names a kind and is kept, any other part is a value.
func Pattern(a ddbcost.Access) string {
	return keyPattern(a.PK) + " / " + keyPattern(a.SK)
}

func keyPattern(k string) string {
	if k == "" {
		return "(query)"
	}
	parts := strings.Split(k, "#")
	for i, p := range parts {
		if strings.TrimFunc(p, func(r rune) bool { return 'A' <= r && r <= 'Z' }) != "" || p == "" {
			parts[i] = "*"
		}
	}
	return strings.Join(parts, "#")
}
