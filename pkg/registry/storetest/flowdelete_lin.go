package storetest

import (
	"cmp"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kitaru/deployments/pkg/registry"
)

// A flow under deploys, If-Match writes of one exclusive tag, reads and
// whole-flow deletes, as porcupine sees it. The history checks what the
// counted race tests cannot: that a delete removes exactly the versions and
// the tag that existed at one instant (a deploy committing into the old
// flow after it, an epoch bug, shows as a version the delete did not report
// and no later read can explain), that numbers are never reused across a
// delete (I1), and that the tag's revisions continue across it, so an
// If-Match read before the delete never matches the re-created tag.

// versionSet is a set of version numbers below 256 (comparable, so states
// deduplicate in the checker).
type versionSet [4]uint64

func (s versionSet) has(v int) bool { return v >= 0 && v < 256 && s[v/64]&(1<<(v%64)) != 0 }
func (s versionSet) with(v int) versionSet {
	s[v/64] |= 1 << (v % 64)
	return s
}
func (s versionSet) max() int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 0 {
			return i*64 + 63 - bits.LeadingZeros64(s[i])
		}
	}
	return 0
}
func setOf(vs []int) (versionSet, bool) {
	var s versionSet
	for _, v := range vs {
		if v <= 0 || v >= 256 {
			return s, false
		}
		s = s.with(v)
	}
	return s, true
}

type fdState struct {
	live versionSet // versions that exist
	used versionSet // every number a deploy ever returned (never reused)
	// floor is the next_version the last delete reported: a later deploy's
	// number is at least that.
	floor int
	// The exclusive tag: whether it routes, where, and its revision. rev
	// outlives a delete: the re-created tag's revisions go on above it.
	tagLive bool
	tagV    int
	tagRev  int64
}

type fdOp int

const (
	fdDeploy fdOp = iota
	fdMove
	fdRead
	fdDelete      // without force: refused while the tag routes
	fdForceDelete // force: removes the tag too
)

type fdInput struct {
	op      fdOp
	version int   // a move's target
	ifRev   int64 // a move's If-Match (-1 = none)
}

type fdOutput struct {
	code    registry.Code
	reason  string
	version int   // the deploy's number, the move's or read's target
	rev     int64 // the move's revision
	removed versionSet
	tagWas  int // the tag's version the delete reported removing (0 = none)
	next    int // the delete's next_version
	bad     bool
}

// flowDeleteModel is the sequential specification; a 409 for a flow delete
// under way (reason flow_being_deleted) changes nothing and may come for
// any write that overlaps one, and so does a 503 of a write that gave up
// under contention.
func flowDeleteModel() porcupine.Model {
	return porcupine.Model{
		Init: func() any { return fdState{} },
		Step: func(s, in, out any) (bool, any) {
			return flowDeleteStep(s.(fdState), in.(fdInput), out.(fdOutput))
		},
		DescribeOperation: func(in, out any) string {
			i, o := in.(fdInput), out.(fdOutput)
			return fmt.Sprintf("op %d v%d if=%d -> %s %s v%d rev %d next %d", i.op, i.version, i.ifRev, o.code, o.reason, o.version, o.rev, o.next)
		},
	}
}

func flowDeleteStep(st fdState, i fdInput, o fdOutput) (bool, any) {
	if o.bad {
		return false, st
	}
	if o.code == registry.CodeConflict && o.reason == registry.ReasonFlowBeingDeleted || o.code == registry.CodeUnavailable {
		// Refused (a flow delete under way) or given up under contention
		// without committing (this history has no lost answers).
		return true, st
	}
	exists := st.live != versionSet{}
	switch i.op {
	case fdDeploy:
		if o.code != "" || st.used.has(o.version) || o.version < st.floor || o.version >= 256 {
			return false, st
		}
		st.live, st.used = st.live.with(o.version), st.used.with(o.version)
		return true, st
	case fdRead:
		if o.code == registry.CodeNotFound {
			return !st.tagLive, st
		}
		return o.code == "" && st.tagLive && o.version == st.tagV, st
	case fdDelete, fdForceDelete:
		switch o.code {
		case registry.CodeNotFound:
			return !exists, st
		case registry.CodeConflict:
			return i.op == fdDelete && o.reason == registry.ReasonFlowHasRoutes && st.tagLive, st
		case "":
			tagWas := 0
			if st.tagLive {
				tagWas = st.tagV
			}
			if !exists || o.removed != st.live || o.tagWas != tagWas || o.next <= st.used.max() || (i.op == fdDelete && st.tagLive) {
				return false, st
			}
			st.live, st.floor, st.tagLive, st.tagV = versionSet{}, o.next, false, 0
			return true, st
		}
		return false, st
	}
	// A move.
	stale := i.ifRev >= 0 && (!st.tagLive || i.ifRev != st.tagRev)
	switch o.code {
	case registry.CodePreconditionFailed:
		return stale, st
	case registry.CodeNotFound:
		return !st.live.has(i.version), st
	case registry.CodeConflict:
		return i.ifRev < 0, st // superseded by a concurrent plain move
	case "":
		switch {
		case stale || !st.live.has(i.version) || o.version != i.version:
			return false, st
		case st.tagLive && st.tagV == i.version:
			return o.rev == st.tagRev, st
		case o.rev <= st.tagRev:
			return false, st
		}
		st.tagLive, st.tagV, st.tagRev = true, i.version, o.rev
		return true, st
	}
	return false, st
}

// testFlowDeletesAreLinearizable records clients deploying, moving one
// exclusive tag (half with If-Match on the revision they last saw, so some
// carry a revision from before a delete), reading it and deleting the whole
// flow with and without force, and checks the history with porcupine.
func testFlowDeletesAreLinearizable(t *testing.T, f *fixture) {
	const rounds, clients, opsPerClient, tag = 4, 5, 8, "stable"
	for round := range rounds {
		flow := fmt.Sprintf("fdlin_%d", round)
		var highest atomic.Int64 // the highest version any client saw, for moves' targets
		first := deploy(t, f, flow, "", false)
		highest.Store(int64(first.Version))
		start := time.Now()
		stamp := func() int64 { return int64(time.Since(start)) }
		var mu sync.Mutex
		history := []porcupine.Operation{{Input: fdInput{op: fdDeploy, ifRev: -1}, Output: fdOutput{version: first.Version}, Call: -2, Return: -1}}
		var wg sync.WaitGroup
		for c := range clients {
			rng := rand.New(rand.NewPCG(uint64(round), uint64(c)))
			wg.Go(func() {
				lastRev := int64(-1)
				for range opsPerClient {
					in := fdInput{ifRev: -1}
					switch p := rng.IntN(20); {
					case p < 5:
						in.op = fdDeploy
					case p < 13:
						in.op, in.version = fdMove, 1+rng.IntN(int(highest.Load()))
						if p < 9 && lastRev >= 0 {
							in.ifRev = lastRev
						}
					case p < 16:
						in.op = fdRead
					case p < 18:
						in.op = fdDelete
					default:
						in.op = fdForceDelete
					}
					call := stamp()
					out, err := runFlowDeleteOp(f, flow, tag, in)
					ret := stamp()
					if err != nil {
						if out.code = registry.CodeOf(err); out.code == "" || out.code == registry.CodeInternal {
							t.Errorf("%+v: unexpected error %v", in, err)
							return
						}
						out.reason = reasonOf(err)
					}
					if in.op == fdMove && out.code == "" {
						lastRev = out.rev
					}
					if in.op == fdDeploy && out.code == "" {
						for h := highest.Load(); int64(out.version) > h && !highest.CompareAndSwap(h, int64(out.version)); h = highest.Load() {
						}
					}
					mu.Lock()
					history = append(history, porcupine.Operation{ClientId: c + 1, Input: in, Output: out, Call: call, Return: ret})
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		if res := porcupine.CheckOperationsTimeout(flowDeleteModel(), history, time.Minute); res != porcupine.Ok {
			slices.SortFunc(history, func(a, b porcupine.Operation) int { return cmp.Compare(a.Call, b.Call) })
			for _, op := range history {
				t.Logf("c%d [%d,%d] %+v -> %+v", op.ClientId, op.Call/1000, op.Return/1000, op.Input, op.Output)
			}
			t.Fatalf("round %d: %d operations are not linearizable as deploys, If-Match moves and flow deletes of one flow (%s)", round, len(history), res)
		}
	}
}

// runFlowDeleteOp sends one operation of the history and records its answer.
func runFlowDeleteOp(f *fixture, flow, tag string, in fdInput) (fdOutput, error) {
	var out fdOutput
	switch in.op {
	case fdDeploy:
		d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:fdlin", Stack: "dev", By: "fdlin"})
		out.version = d.Version
		return out, err
	case fdMove:
		req := registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: in.version, Exclusive: true, By: "fdlin"}
		if in.ifRev >= 0 {
			req.IfRevision = &in.ifRev
		}
		tg, err := f.store.PutTag(ctx, req)
		if err == nil {
			out.rev = tg.Revision
			if len(tg.Versions) == 1 {
				out.version = tg.Versions[0]
			}
		}
		return out, err
	case fdRead:
		r, err := f.store.Resolve(ctx, project, flow, registry.Selector{Tag: tag})
		out.version = r.Deployment.Version
		return out, err
	}
	del, err := f.store.DeleteFlow(ctx, project, flow, in.op == fdForceDelete, "fdlin")
	if err != nil {
		return out, err
	}
	var ok bool
	out.removed, ok = setOf(del.Versions)
	out.bad = !ok
	out.next = del.NextVersion
	if vs := del.Tags[tag]; len(vs) == 1 {
		out.tagWas = vs[0]
	} else if len(vs) > 1 {
		out.bad = true
	}
	return out, nil
}
