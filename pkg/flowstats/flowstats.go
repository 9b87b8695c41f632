// Package flowstats reports how each version on a flow's route is doing —
// executions started, completed, failed, cancelled and running, duration
// percentiles and the last failure — for kitaru flow status and
// GET /v1/flows/{flow}/stats (docs/flow-status.md).
//
// It is computed from the execution records at request time, with no
// counters: one newest-first read of the flow's executions bounded by time
// (Since, at most MaxWindow back) and by count (MaxRecords), through the
// same ListExecutionsBy every store already serves without a table scan.
// When a bound cuts the read the answer says so (Sampled, OldestSeen), so
// the same code answers alike on every store.
package flowstats

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Bounds of one answer.
const (
	// DefaultWindow is how far back an answer looks when Since is unset.
	DefaultWindow = 24 * time.Hour
	// MaxWindow is how far back Since may reach.
	MaxWindow = 30 * 24 * time.Hour
	// DefaultMaxRecords bounds the execution records one answer reads.
	DefaultMaxRecords = 10_000
	// DefaultReadBudget bounds the time one answer spends reading, well
	// inside the API's request deadline: records with large inputs or
	// results make each read slower, and a cut read still answers.
	DefaultReadBudget = 5 * time.Second
)

// Stats is the answer: one row per version.
type Stats struct {
	Project string `json:"project"`
	Flow    string `json:"flow"`
	// Tag, when asked, narrows the answer to executions invoked through it.
	Tag string `json:"tag,omitempty"`
	// Version, when asked, narrows the answer to executions of it.
	Version int `json:"version,omitempty"`
	// Since and Until are the window: executions started in [Since, Until].
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Read counts the execution records read.
	Read int `json:"read"`
	// Sampled is true when a bound (MaxRecords or the read budget) stopped
	// the read before Since: the counts then cover executions started from
	// OldestSeen to Until only.
	Sampled bool `json:"sampled"`
	// OldestSeen is the start of the oldest execution read, set when Sampled.
	OldestSeen *time.Time `json:"oldest_seen,omitempty"`
	// Versions holds the versions on the route first (even with no
	// executions), then any other version that ran in the window, each
	// group newest version first.
	Versions []VersionStats `json:"versions"`
}

// VersionStats is one version's outcomes in the window.
type VersionStats struct {
	Version int `json:"version"`
	// Tags are the tags routing to the version now (only the asked tag, when
	// one was asked); empty for a version that ran in the window but is off
	// the route now, such as the one a tag moved away from.
	Tags      []string `json:"tags"`
	Started   int      `json:"started"`
	Completed int      `json:"completed"`
	Failed    int      `json:"failed"`
	Cancelled int      `json:"cancelled"`
	Running   int      `json:"running"`
	// P50Seconds and P95Seconds are nearest-rank percentiles of the
	// durations of the executions that ended (completed, failed or
	// cancelled); absent when none ended.
	P50Seconds *float64 `json:"p50_seconds,omitempty"`
	P95Seconds *float64 `json:"p95_seconds,omitempty"`
	// LastFailure is the most recently started failed execution.
	LastFailure *Failure `json:"last_failure,omitempty"`
}

// Failure names one failed execution.
type Failure struct {
	ExecID string `json:"exec_id"`
	// Type is the error's type, e.g. ValueError or States.Timeout.
	Type string `json:"type"`
	// At is when it ended.
	At time.Time `json:"at"`
}

// Query asks for one answer.
type Query struct {
	Project string
	Flow    string
	// Tag, when set, counts only the executions invoked through the tag and
	// shows the versions it routes to.
	Tag string
	// Version, when set, counts only the executions of that version.
	Version int
	// Since is the window's start; zero is SinceAgo before now.
	Since time.Time
	// SinceAgo is the window's length before the answer's now when Since
	// is zero (a request's since=720h); zero is DefaultWindow. Measured
	// from the same now as the MaxWindow bound, so the longest window
	// allowed is never refused for the time the request took to get here.
	SinceAgo time.Duration
}

// Reader is what an answer reads: the flow's routes and its executions.
// Every registry store is one.
type Reader interface {
	// GetFlow summarises one flow. Errors: not_found.
	GetFlow(ctx context.Context, project, flow string) (registry.FlowSummary, error)
	// ListExecutionsBy lists a flow's executions that pass filter, newest
	// first. Errors: invalid_argument.
	ListExecutionsBy(ctx context.Context, project, flow string, filter registry.ExecutionFilter, page registry.PageRequest) (registry.Page[registry.Execution], error)
}

// Service computes answers from a Reader.
type Service struct {
	Store Reader
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// MaxRecords bounds the records one answer reads; 0 is DefaultMaxRecords.
	MaxRecords int
	// ReadBudget bounds the time one answer reads; 0 is DefaultReadBudget.
	ReadBudget time.Duration
}

// SinceOutOfRange refuses a window start in the future or more than
// MaxWindow back.
func SinceOutOfRange(since, now time.Time) *registry.Error {
	return registry.Errorf(registry.CodeInvalidArgument,
		"since %s is outside the window flow stats cover: from %s (%g days back) to now; pass a later time or a shorter duration (1h, 24h, 720h)",
		since.UTC().Format(time.RFC3339), now.Add(-MaxWindow).UTC().Format(time.RFC3339), MaxWindow.Hours()/24).
		WithDetails("since", since.UTC().Format(time.RFC3339Nano)).
		WithDetails("max_window", fmt.Sprintf("%gh", MaxWindow.Hours())).WithReason(registry.ReasonSinceOutOfRange)
}

// Stats answers q. Errors: invalid_argument (a bad flow, tag, version or
// since), not_found (no flow, or no such tag or version).
func (s Service) Stats(ctx context.Context, q Query) (Stats, error) {
	now := s.now()
	if q.Since.IsZero() {
		ago := q.SinceAgo
		if ago <= 0 {
			ago = DefaultWindow
		}
		q.Since = now.Add(-ago)
	}
	if q.Since.Before(now.Add(-MaxWindow)) || q.Since.After(now) {
		return Stats{}, SinceOutOfRange(q.Since, now)
	}
	if err := (registry.ExecutionFilter{Tag: q.Tag, Version: q.Version}).Validate(); err != nil {
		return Stats{}, err
	}
	flow, err := s.Store.GetFlow(ctx, q.Project, q.Flow)
	if err != nil {
		return Stats{}, fmt.Errorf("read flow %s: %w", q.Flow, err)
	}
	routed, err := route(flow, q)
	if err != nil {
		return Stats{}, err
	}
	st := Stats{Project: q.Project, Flow: q.Flow, Tag: q.Tag, Version: q.Version, Since: q.Since.UTC(), Until: now.UTC()}
	acc := map[int]*tally{}
	for v := range routed {
		acc[v] = &tally{}
	}
	if err := s.read(ctx, q, now, &st, func(e registry.Execution) {
		if q.Tag != "" && e.Selector.Tag != q.Tag || q.Version != 0 && e.Version != q.Version {
			return
		}
		t := acc[e.Version]
		if t == nil {
			t = &tally{}
			acc[e.Version] = t
		}
		t.add(e)
	}); err != nil {
		return Stats{}, err
	}
	st.Versions = rows(acc, routed)
	return st, nil
}

// route maps each version the answer covers to the tags routing to it now.
func route(f registry.FlowSummary, q Query) (map[int][]string, error) {
	if q.Version > f.LatestVersion {
		return nil, registry.VersionNotFound(q.Flow, q.Version)
	}
	if _, ok := f.Tags[q.Tag]; q.Tag != "" && !ok {
		return nil, registry.TagNotFound(q.Flow, q.Tag)
	}
	routed := map[int][]string{}
	for _, tag := range slices.Sorted(maps.Keys(f.Tags)) {
		if q.Tag != "" && tag != q.Tag {
			continue
		}
		for _, v := range f.Tags[tag] {
			if q.Version == 0 || v == q.Version {
				routed[v] = append(routed[v], tag)
			}
		}
	}
	if q.Version != 0 && q.Tag == "" {
		if _, ok := routed[q.Version]; !ok {
			routed[q.Version] = []string{} // asked for directly: a row even off the route
		}
	}
	return routed, nil
}

// read passes each execution started in the window to add, newest first,
// until the window, MaxRecords or the read budget ends. It reads every
// execution of the flow in the window and leaves the tag and version to
// the caller, so Read is what the stores read on every engine (a DynamoDB
// filtered page reads copies it does not return).
func (s Service) read(ctx context.Context, q Query, now time.Time, st *Stats, add func(registry.Execution)) error {
	maxRecords, budget := s.MaxRecords, s.ReadBudget
	if maxRecords <= 0 {
		maxRecords = DefaultMaxRecords
	}
	if budget <= 0 {
		budget = DefaultReadBudget
	}
	filter := registry.ExecutionFilter{Since: q.Since}
	token := ""
	for first := true; first || token != ""; first = false {
		if !first && s.now().Sub(now) >= budget {
			st.Sampled = true
			break
		}
		// One more than the bound, to tell a cut read from one that ended.
		limit := min(registry.MaxPageSize, maxRecords+1-st.Read)
		p, err := s.Store.ListExecutionsBy(ctx, q.Project, q.Flow, filter, registry.PageRequest{Limit: limit, Token: token})
		if err != nil {
			return fmt.Errorf("list executions of %s since %s: %w", q.Flow, q.Since.Format(time.RFC3339), err)
		}
		for _, e := range p.Items {
			if st.Read == maxRecords {
				st.Sampled = true
				break
			}
			st.Read++
			add(e)
			oldest := e.StartedAt.UTC()
			st.OldestSeen = &oldest
		}
		if st.Sampled {
			break
		}
		token = p.NextToken
	}
	if !st.Sampled {
		st.OldestSeen = nil
	}
	return nil
}

func (s Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

// tally accumulates one version's executions.
type tally struct {
	row       VersionStats
	durations []time.Duration
}

func (t *tally) add(e registry.Execution) {
	t.row.Started++
	switch e.Status {
	case registry.StatusRunning:
		t.row.Running++
	case registry.StatusCompleted:
		t.row.Completed++
	case registry.StatusFailed:
		t.row.Failed++
		if t.row.LastFailure == nil { // newest first: the first one read
			f := Failure{ExecID: e.ExecID}
			if e.Error != nil {
				f.Type = e.Error.Type
			}
			if e.EndedAt != nil {
				f.At = e.EndedAt.UTC()
			}
			t.row.LastFailure = &f
		}
	case registry.StatusCancelled:
		t.row.Cancelled++
	}
	if e.Status.Terminal() && e.EndedAt != nil {
		t.durations = append(t.durations, max(e.EndedAt.Sub(e.StartedAt), 0))
	}
}

// rows orders the tallies: routed versions first, then the others, each
// newest version first.
func rows(acc map[int]*tally, routed map[int][]string) []VersionStats {
	out := make([]VersionStats, 0, len(acc))
	for _, v := range slices.Sorted(maps.Keys(acc)) {
		t := acc[v]
		t.row.Version, t.row.Tags = v, routed[v]
		if t.row.Tags == nil {
			t.row.Tags = []string{}
		}
		slices.Sort(t.durations)
		t.row.P50Seconds = seconds(Percentile(t.durations, 50))
		t.row.P95Seconds = seconds(Percentile(t.durations, 95))
		out = append(out, t.row)
	}
	slices.SortStableFunc(out, func(a, b VersionStats) int {
		_, ar := routed[a.Version]
		_, br := routed[b.Version]
		switch {
		case ar && !br:
			return -1
		case br && !ar:
			return 1
		}
		return b.Version - a.Version
	})
	return out
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted:
// the smallest value at least p% of the values do not exceed. It is -1
// when sorted is empty.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return -1
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// seconds is d in seconds at millisecond precision; nil for a negative d
// (no value).
func seconds(d time.Duration) *float64 {
	if d < 0 {
		return nil
	}
	s := float64(d.Milliseconds()) / 1000
	return &s
}
