package storetest

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/kitaru/deployments/pkg/registry"
)

// The exclusive tag as a register: its target, its revision, and the target
// before its last applied change (what a rollback goes back to; "" = none).
// A target is a version ("3") or a split as the CLI writes it ("3=90,4=10").
type regState struct {
	cur, prev string
	rev       int64
}

// targetOf is the register value of a tag as a store reported it.
func targetOf(tg registry.Tag) string {
	if tg.Split != nil {
		return tg.Split.String()
	}
	if len(tg.Versions) == 1 {
		return strconv.Itoa(tg.Versions[0])
	}
	return ""
}

// routesTo reports whether target sends invocations to version.
func routesTo(target string, version int) bool {
	for part := range strings.SplitSeq(target, ",") {
		v, _, _ := strings.Cut(part, "=")
		if v == strconv.Itoa(version) {
			return true
		}
	}
	return false
}

type regOp int

const (
	opMove regOp = iota
	opRollback
	opRead
	opDeploy
	opSplit // a move to a split of two versions
)

// regInput is one operation on the tag; ifRev is the If-Match revision (-1
// = none). A split moves the tag to split (version is unused).
type regInput struct {
	op      regOp
	version int
	split   registry.Split
	ifRev   int64
}

// target is the register value the operation asks for.
func (i regInput) target() string {
	if i.op == opSplit {
		return i.split.String()
	}
	return strconv.Itoa(i.version)
}

// regOutput is what the store answered: a code ("" when applied) and the
// tag it reported (target), or for a read and a deploy the version it
// resolved to or created.
type regOutput struct {
	code    registry.Code
	version int
	target  string
	rev     int64
}

// registerModel is the sequential specification of one exclusive tag under
// moves, rollbacks, If-Match writes and deploys routed to it:
//   - a move (If-Match matching or absent) either is a no-op because the tag
//     is already there (reports the current revision) or moves it, and
//     reports exactly the next revision;
//   - a stale If-Match is 412 and changes nothing; a 412 needs a stale If-Match;
//   - a rollback moves the tag to the target before its last applied change
//     and reports the next revision; it may be refused (409) and change nothing;
//   - a plain move may be refused as superseded (409) and change nothing;
//   - a deploy never fails; it counts as one change (the next revision) and
//     either moves the tag to its new version or, overtaken by a later
//     change, leaves the route where it is (superseded);
//   - a read sees the current target (a member of it, for a split);
//   - a split is a move whose target is a split.
//
// Without rollbacks the target before the last change matters to nothing, and
// forgetting it keeps the checker's sets of states small.
func registerModel(rollbacks bool) porcupine.Model {
	return (&porcupine.NondeterministicModel{
		Init: func() []any { return []any{regState{}} },
		Step: func(s, in, out any) []any {
			next := registerStep(s.(regState), in.(regInput), out.(regOutput))
			if !rollbacks {
				for i, n := range next {
					n := n.(regState)
					n.prev = ""
					next[i] = n
				}
			}
			return next
		},
		DescribeOperation: func(in, out any) string { return fmt.Sprintf("%+v -> %+v", in, out) },
	}).ToModel()
}

func registerStep(st regState, i regInput, o regOutput) []any {
	one := func(ok bool, next regState) []any {
		if !ok {
			return nil
		}
		return []any{next}
	}
	switch i.op {
	case opRead:
		return one(routesTo(st.cur, o.version), st)
	case opDeploy:
		if o.code != "" {
			return nil
		}
		return []any{regState{cur: strconv.Itoa(o.version), prev: st.cur, rev: st.rev + 1}, regState{cur: st.cur, prev: st.prev, rev: st.rev + 1}}
	case opRollback:
		switch o.code {
		case registry.CodeConflict:
			return one(true, st)
		case "":
			ok := st.prev != "" && o.target == st.prev && o.rev == st.rev+1
			return one(ok, regState{cur: st.prev, prev: st.cur, rev: st.rev + 1})
		}
		return nil
	}
	stale := i.ifRev >= 0 && i.ifRev != st.rev
	switch o.code {
	case registry.CodePreconditionFailed:
		return one(stale, st)
	case registry.CodeConflict:
		return one(i.ifRev < 0, st)
	case "":
		want := i.target()
		switch {
		case stale || o.target != want:
			return nil
		case st.cur == want:
			return one(o.rev == st.rev, st)
		default:
			return one(o.rev == st.rev+1, regState{cur: want, prev: st.cur, rev: st.rev + 1})
		}
	}
	return nil
}

// testTagChangesAreLinearizable records concurrent moves, splits,
// rollbacks, If-Match writes and reads of one exclusive tag and checks the
// history against registerModel with porcupine: a split change is a
// compare-and-swap like a move, a rollback restores a split as it does a
// version, and a read of a split tag picks a member of the split current at
// the read.
func testTagChangesAreLinearizable(t *testing.T, f *fixture) {
	checkRegister(t, f, "lin", registerModel(true), func(p int) regOp {
		switch {
		case p < 3:
			return opMove // with If-Match
		case p < 5:
			return opRollback
		case p < 6:
			return opSplit // half of them with If-Match (checkRegister)
		case p < 7:
			return opRead
		}
		return opMove
	})
}

// testDeploysRacingTagMovesAreLinearizable adds deploys routed to the tag
// (the clock-ordered moves that never re-send) to plain and If-Match moves.
// Rollbacks stay out: a rollback follows history by clock, and a deploy
// overtaken while in flight writes its record below a change already
// visible (see docs/data-model.md, "Deploys: moves ordered by the clock").
func testDeploysRacingTagMovesAreLinearizable(t *testing.T, f *fixture) {
	checkRegister(t, f, "lind", registerModel(false), func(p int) regOp {
		switch {
		case p < 3:
			return opMove // with If-Match
		case p < 6:
			return opDeploy
		case p < 7:
			return opRead
		}
		return opMove
	})
}

// checkRegister records concurrent operations on one exclusive tag of flow,
// each client choosing its next operation with pick (p in 0..9; opMove for
// p < 3 carries If-Match), and checks them against model.
func checkRegister(t *testing.T, f *fixture, flow string, model porcupine.Model, pick func(p int) regOp) {
	const versions, rounds, clients, opsPerClient = 4, 6, 6, 8
	for range versions {
		deploy(t, f, flow, "", false)
	}
	for round := range rounds {
		tag := fmt.Sprintf("t%d", round)
		first := mustTag(t, f, flow, tag, 1, true)
		start := time.Now()
		stamp := func() int64 { return int64(time.Since(start)) }
		var mu sync.Mutex
		history := []porcupine.Operation{{ClientId: 0, Input: regInput{op: opMove, version: 1, ifRev: -1}, Output: regOutput{version: 1, target: "1", rev: first.Revision}, Call: -2, Return: -1}}
		var wg sync.WaitGroup
		for c := range clients {
			rng := rand.New(rand.NewPCG(uint64(round), uint64(c)))
			wg.Go(func() {
				lastRev := first.Revision
				for range opsPerClient {
					in := regInput{op: opMove, version: 1 + rng.IntN(versions), ifRev: -1}
					p := rng.IntN(10)
					if in.op = pick(p); in.op == opMove && p < 3 || in.op == opSplit && rng.IntN(2) == 0 {
						in.ifRev = lastRev
					}
					if in.op == opSplit {
						a := 1 + rng.IntN(versions)
						b := a%versions + 1
						w := 1 + rng.IntN(99)
						in.split = registry.Split{a: w, b: 100 - w}
					}
					call := stamp()
					var tg registry.Tag
					var err error
					switch in.op {
					case opMove, opSplit:
						req := registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: in.version, Exclusive: true, By: "lin"}
						if in.op == opSplit {
							req.Version, req.Split = 0, in.split
						}
						if in.ifRev >= 0 {
							req.IfRevision = &in.ifRev
						}
						tg, err = f.store.PutTag(ctx, req)
					case opRollback:
						tg, err = f.store.RollbackTag(ctx, project, flow, tag, "lin")
					case opDeploy:
						in.version = 0
						var d registry.Deployment
						d, err = f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:lin", Tag: tag, Exclusive: true, Stack: "dev", By: "lin"})
						tg.Versions = []int{d.Version}
					case opRead:
						var v int
						v, err = resolveTag(t, f, flow, tag)
						tg.Versions = []int{v}
					}
					ret := stamp()
					out := regOutput{code: registry.CodeOf(err)}
					if err == nil {
						out.code, out.rev, out.target = "", tg.Revision, targetOf(tg)
						if len(tg.Versions) == 1 {
							out.version = tg.Versions[0]
						}
						if in.op != opRead && in.op != opDeploy {
							lastRev = tg.Revision
						}
					} else if out.code != registry.CodeConflict && out.code != registry.CodePreconditionFailed {
						t.Errorf("%+v: unexpected error %v", in, err)
						return
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
		// A deploy's two outcomes widen the search: allow a loaded CI
		// machine time (Unknown, a timeout, fails too).
		if res := porcupine.CheckOperationsTimeout(model, history, time.Minute); res != porcupine.Ok {
			t.Fatalf("round %d (tag %s): %d operations are not linearizable as one register with compare-and-swap and rollback (%s)", round, tag, len(history), res)
		}
	}
}
