package registry

import (
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var routeSeed = flag.Int64("route.seed", 1, "first seed of TestRouteTransitionsKeepInvariants")

func ptr64(n int64) *int64 { return &n }

func TestRouteTransitions(t *testing.T) {
	free := Route{Flow: "f", Tag: "canary"}
	onTwo := Route{Flow: "f", Tag: "canary", Exclusive: true, Versions: []int{2}, Revision: 3, Clock: 10}
	shared := Route{Flow: "f", Tag: "beta", Versions: []int{1, 4}, Revision: 2, Clock: 7}
	def := Route{Flow: "f", Tag: DefaultTag, Exclusive: true, Versions: []int{1}, Revision: 1, Clock: 1}
	tests := []struct {
		name    string
		apply   func() (Route, error)
		want    Route
		code    Code
		message string
	}{
		{
			name:  "moving a free tag points it at the version",
			apply: func() (Route, error) { return free.Move(3, 5) },
			want:  Route{Flow: "f", Tag: "canary", Exclusive: true, Versions: []int{3}, Revision: 1, Clock: 5},
		},
		{
			name:  "moving an exclusive tag replaces its target and bumps the revision",
			apply: func() (Route, error) { return onTwo.Move(5, 11) },
			want:  Route{Flow: "f", Tag: "canary", Exclusive: true, Versions: []int{5}, Revision: 4, Clock: 11},
		},
		{
			name:  "moving a tag where it already is changes nothing",
			apply: func() (Route, error) { return onTwo.Move(2, 11) },
			want:  onTwo,
		},
		{
			name:    "a move older than the last applied change is superseded",
			apply:   func() (Route, error) { return onTwo.Move(5, 9) },
			want:    onTwo,
			code:    CodeConflict,
			message: `tag "canary" of flow "f" was changed by a later request while this one ran (it is now on version 2 at revision 3); nothing was changed: read the tag and send your change again if you still want it`,
		},
		{
			name:    "moving a shared tag is a mode clash (I5)",
			apply:   func() (Route, error) { return shared.Move(5, 9) },
			want:    shared,
			code:    CodeConflict,
			message: `tag "beta" of flow "f" is shared (on versions 1 and 4), so it cannot be added as exclusive; a tag is either exclusive or shared: remove it first or use another tag name`,
		},
		{
			name:  "adding a shared member keeps members sorted",
			apply: func() (Route, error) { return shared.AddShared(2, 9) },
			want:  Route{Flow: "f", Tag: "beta", Versions: []int{1, 2, 4}, Revision: 3, Clock: 9},
		},
		{
			name:  "adding a member it has changes nothing",
			apply: func() (Route, error) { return shared.AddShared(4, 9) },
			want:  shared,
		},
		{
			name: "a freed exclusive tag may become shared",
			apply: func() (Route, error) {
				return Route{Flow: "f", Tag: "canary", Exclusive: true, Revision: 2, Clock: 4}.AddShared(3, 8)
			},
			want: Route{Flow: "f", Tag: "canary", Versions: []int{3}, Revision: 3, Clock: 8},
		},
		{
			name:    "adding an exclusive tag as shared is a mode clash (I5)",
			apply:   func() (Route, error) { return onTwo.AddShared(3, 12) },
			want:    onTwo,
			code:    CodeConflict,
			message: `tag "canary" of flow "f" is exclusive (on version 2), so it cannot be added as shared; a tag is either exclusive or shared: remove it first or use another tag name`,
		},
		{
			name:  "default is never shared (I3)",
			apply: func() (Route, error) { return def.AddShared(2, 12) },
			want:  def,
			code:  CodeInvalidArgument,
		},
		{
			name:  "removing an exclusive tag frees it in its mode",
			apply: func() (Route, error) { return onTwo.Remove(2, 11) },
			want:  Route{Flow: "f", Tag: "canary", Exclusive: true, Revision: 4, Clock: 11},
		},
		{
			name:  "removing a shared member keeps the others",
			apply: func() (Route, error) { return shared.Remove(1, 8) },
			want:  Route{Flow: "f", Tag: "beta", Versions: []int{4}, Revision: 3, Clock: 8},
		},
		{
			name:    "removing from a version that does not hold it is not found",
			apply:   func() (Route, error) { return shared.Remove(3, 8) },
			want:    shared,
			code:    CodeNotFound,
			message: "version 3 of flow \"f\" does not hold tag \"beta\"; the flow's summary shows the versions that hold each tag",
		},
		{
			name:    "default cannot be removed (I3)",
			apply:   func() (Route, error) { return def.Remove(1, 8) },
			want:    def,
			code:    CodeConflict,
			message: "the default tag cannot be removed, only moved: set it on another version of flow \"f\" instead (it is always exclusive)",
		},
		{
			name:  "an older removal of an exclusive tag is superseded",
			apply: func() (Route, error) { return onTwo.Remove(2, 9) },
			want:  onTwo,
			code:  CodeConflict,
		},
		{
			name:  "rolling back moves the tag when it is as read",
			apply: func() (Route, error) { return onTwo.Rollback(1, 12, 10) },
			want:  Route{Flow: "f", Tag: "canary", Exclusive: true, Versions: []int{1}, Revision: 4, Clock: 12},
		},
		{
			name:    "rolling back a tag that moved since is a conflict",
			apply:   func() (Route, error) { return onTwo.Rollback(1, 12, 9) },
			want:    onTwo,
			code:    CodeConflict,
			message: "tag \"canary\" of flow \"f\" moved while rolling back; read the tag's history to see the move, then retry if you still want the rollback",
		},
		{
			name: "a stale If-Match is a failed precondition",
			apply: func() (Route, error) {
				return onTwo.Apply(TagRequest{Flow: "f", Tag: "canary", Version: 4, Exclusive: true, IfRevision: ptr64(2)}, 12, nil)
			},
			want:    onTwo,
			code:    CodePreconditionFailed,
			message: `tag "canary" of flow "f" is at revision 3, not 2: it changed since you read it; read it again and retry`,
		},
		{
			name: "a matching If-Match applies the move",
			apply: func() (Route, error) {
				return onTwo.Apply(TagRequest{Flow: "f", Tag: "canary", Version: 4, Exclusive: true, IfRevision: ptr64(3)}, 12, nil)
			},
			want: Route{Flow: "f", Tag: "canary", Exclusive: true, Versions: []int{4}, Revision: 4, Clock: 12},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.apply()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("route (-want +got):\n%s", diff)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			if tc.message != "" && e.Message != tc.message {
				t.Errorf("message:\n got %s\nwant %s", e.Message, tc.message)
			}
		})
	}
}

func TestRouteTransitionsDoNotModifyTheirReceiver(t *testing.T) {
	r := Route{Flow: "f", Tag: "beta", Versions: []int{1, 4}, Revision: 2, Clock: 7}
	before := Route{Flow: "f", Tag: "beta", Versions: []int{1, 4}, Revision: 2, Clock: 7}
	_, _ = r.AddShared(2, 8)
	_, _ = r.Remove(1, 9)
	if diff := cmp.Diff(before, r); diff != "" {
		t.Fatalf("receiver changed (-before +after):\n%s", diff)
	}
}

// flowModel is a flow's routes driven only through the Route transitions, the
// way a store drives them: one route clock per flow, each change taking the
// next tick, and one history record per applied change (I8).
type flowModel struct {
	routes  map[string]Route
	clock   int64
	next    int // versions allocated so far
	deleted map[int]bool
	history []RouteChange
}

func (m *flowModel) route(tag string) Route {
	if r, ok := m.routes[tag]; ok {
		return r
	}
	return Route{Flow: "f", Tag: tag}
}

// commit stores next when the transition changed the route and records it.
func (m *flowModel) commit(before, next Route, action Action, version int) {
	if next.Revision == before.Revision {
		return
	}
	m.routes[next.Tag] = next
	v := version
	m.history = append(m.history, RouteChange{Flow: "f", Tag: next.Tag, Action: action, Exclusive: next.Exclusive, To: &v, Revision: next.Clock, At: time.Unix(next.Clock, 0)})
}

func (m *flowModel) tick() int64 { m.clock++; return m.clock }

func (m *flowModel) live(version int) bool {
	return version >= 1 && version <= m.next && !m.deleted[version]
}

// step applies one random operation; refusals are fine, they must only leave
// the routes unchanged.
func (m *flowModel) step(t *testing.T, rng *rand.Rand) string {
	tags := []string{DefaultTag, "canary", "stable", "beta", "qa"}
	tag := tags[rng.Intn(len(tags))]
	version := 1 + rng.Intn(m.next+1)
	if m.next == 0 {
		version = 1
	}
	before := m.route(tag)
	var next Route
	var err error
	var op string
	switch n := rng.Intn(7); {
	case n == 0 || m.next == 0: // deploy: a new version takes --tag, and default if free (I6)
		m.next++
		version = m.next
		exclusive := tag == DefaultTag || rng.Intn(2) == 0
		op = fmt.Sprintf("deploy v%d tag %s exclusive=%v", version, tag, exclusive)
		clock := m.tick()
		if exclusive {
			next, err = before.Move(version, clock)
		} else {
			next, err = before.AddShared(version, clock)
		}
		if err != nil {
			m.next-- // a refused deploy allocates nothing here
			break
		}
		m.commit(before, next, ActionDeploy, version)
		if d := m.route(DefaultTag); d.Free() {
			dn, derr := d.Move(version, m.tick())
			if derr != nil {
				t.Fatalf("%s: default on first deploy: %v", op, derr)
			}
			m.commit(d, dn, ActionDeploy, version)
		}
		return op
	case n == 1 || n == 2:
		if !m.live(version) {
			return "skip"
		}
		op = fmt.Sprintf("move %s to v%d", tag, version)
		next, err = before.Apply(TagRequest{Flow: "f", Tag: tag, Version: version, Exclusive: true}, m.tick(), nil)
	case n == 3:
		if !m.live(version) {
			return "skip"
		}
		op = fmt.Sprintf("add shared %s to v%d", tag, version)
		next, err = before.Apply(TagRequest{Flow: "f", Tag: tag, Version: version}, m.tick(), nil)
	case n == 4:
		op = fmt.Sprintf("remove %s from v%d", tag, version)
		next, err = before.Remove(version, m.tick())
	case n == 5:
		op = fmt.Sprintf("roll back %s to v%d", tag, version)
		if !m.live(version) {
			return "skip"
		}
		last := before.Clock
		if rng.Intn(4) == 0 {
			last-- // the route moved since its history was read
		}
		next, err = before.Rollback(version, m.tick(), last)
	case n == 6: // delete: refused while it holds exclusive tags (I4); shared tags leave with it
		if !m.live(version) {
			return "skip"
		}
		op = fmt.Sprintf("delete v%d", version)
		for _, r := range m.routes {
			if r.Exclusive && r.Holds(version) {
				return op + " (refused: holds " + r.Tag + ")"
			}
		}
		names := make([]string, 0, len(m.routes))
		for name := range m.routes {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			r := m.routes[name]
			if !r.Holds(version) {
				continue
			}
			rn, rerr := r.Remove(version, m.tick())
			if rerr != nil {
				t.Fatalf("%s: shared tag %s: %v", op, name, rerr)
			}
			m.commit(r, rn, ActionDelete, version)
		}
		m.deleted[version] = true
		return op
	}
	if err != nil {
		if diff := cmp.Diff(before, next); diff != "" {
			t.Fatalf("%s refused (%v) but returned a changed route (-before +after):\n%s", op, err, diff)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: err %v is not a *registry.Error", op, err)
		}
		return op + " (refused: " + string(e.Code) + ")"
	}
	if before.Revision != next.Revision && next.Revision != before.Revision+1 {
		t.Fatalf("%s: revision %d → %d, want +1", op, before.Revision, next.Revision)
	}
	action := map[bool]Action{true: ActionMove, false: ActionAdd}[next.Exclusive]
	m.commit(before, next, action, version)
	return op
}

// check asserts the invariants expressible on routes alone.
func (m *flowModel) check(t *testing.T, seed int64, trace []string) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d, after\n  %s\n%s", seed, joinLast(trace, 12), fmt.Sprintf(format, args...))
	}
	var revisions int64
	for name, r := range m.routes {
		revisions += r.Revision
		if r.Tag != name {
			fail("route %q is stored under %q", r.Tag, name)
		}
		if name == DefaultTag && (!r.Exclusive || r.Free()) && m.next > 0 {
			fail("I3: default is %+v, want exclusive on one version", r)
		}
		if r.Exclusive && len(r.Versions) > 1 {
			fail("I2: exclusive %q on %v", name, r.Versions)
		}
		if !slices.IsSorted(r.Versions) || len(slices.Compact(slices.Clone(r.Versions))) != len(r.Versions) {
			fail("shared %q members %v not sorted and unique", name, r.Versions)
		}
		if r.Versions != nil && len(r.Versions) == 0 {
			fail("free %q keeps an empty, non-nil member list", name)
		}
		for _, v := range r.Versions {
			if !m.live(v) {
				fail("I2/I4: %q routes to version %d, which is not live", name, v)
			}
		}
		if r.Clock > m.clock {
			fail("%q has clock %d beyond the flow's %d", name, r.Clock, m.clock)
		}
	}
	// I8: one history record per applied change, route clocks strictly increasing.
	if int64(len(m.history)) != revisions {
		fail("I8: %d history records for %d applied changes", len(m.history), revisions)
	}
	for i := 1; i < len(m.history); i++ {
		if m.history[i].Revision <= m.history[i-1].Revision {
			fail("I8: history clocks %d then %d", m.history[i-1].Revision, m.history[i].Revision)
		}
	}
	// I5 holds by construction (one Route per name); check the latest record agrees.
	last := map[string]RouteChange{}
	for _, c := range m.history {
		last[c.Tag] = c
	}
	for name, c := range last {
		if r := m.routes[name]; r.Clock != c.Revision || r.Exclusive != c.Exclusive {
			fail("route %q (clock %d, exclusive %v) disagrees with its last history record %+v", name, r.Clock, r.Exclusive, c)
		}
	}
}

func joinLast(trace []string, n int) string {
	if len(trace) > n {
		trace = trace[len(trace)-n:]
	}
	out := ""
	for i, s := range trace {
		if i > 0 {
			out += "\n  "
		}
		out += s
	}
	return out
}

// TestRouteTransitionsKeepInvariants applies random operation sequences
// (deploy with an exclusive or shared tag, move, add shared, remove,
// rollback, delete) through the transitions and checks the route invariants
// after every step. Run r uses seed route.seed+r (route.seed defaults to 1,
// so every run of the test is the same); pass -route.seed=N to explore others.
func TestRouteTransitionsKeepInvariants(t *testing.T) {
	const runs, steps = 300, 200
	for run := int64(0); run < runs; run++ {
		seed := *routeSeed + run
		rng := rand.New(rand.NewSource(seed))
		m := &flowModel{routes: map[string]Route{}, deleted: map[int]bool{}}
		var trace []string
		for i := 0; i < steps; i++ {
			trace = append(trace, m.step(t, rng))
			m.check(t, seed, trace)
		}
	}
}
