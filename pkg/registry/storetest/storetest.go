// Package storetest is the conformance suite every registry table passes:
// the rules of deploys, tags, deletes, rollbacks and history (invariants
// I1–I8), races checked by porcupine and by counting, executions, keyed
// writes and API keys. pkg/dynamo runs it on minidyn and DynamoDB Local,
// pkg/sqlstore on SQLite, so the engines cannot drift apart.
//
// It is imported by tests only.
package storetest

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

// Store is everything a registry table keeps: what pkg/service and the
// reaper need of it.
type Store interface {
	registry.Store
	registry.ExecutionStore
	registry.IdempotencyStore
	auth.KeyStore
	registry.UnroutedDeleter
	registry.BundleGuard
	RunningStartedBefore(ctx context.Context, before time.Time, limit int) ([]registry.Execution, error)
	ReapExecution(ctx context.Context, found registry.Execution, o registry.Outcome) (registry.Execution, bool, error)
}

// Engine opens stores of one kind for the suite.
type Engine struct {
	// Name names the engine in test names.
	Name string
	// Open returns a store on a fresh, empty table whose clock is now
	// (time.Now when nil); the engine removes it when t ends.
	Open func(t testing.TB, now func() time.Time) Store
	// RoundTrips, when set, counts the requests the stores Open returned
	// have sent to the engine; the round-trip budgets run only then.
	RoundTrips func() int64
	// FlowState, when set, renders everything the engine keeps about a
	// flow, exactly, so a test can show that a refused change wrote
	// nothing. Without it the suite compares what the store's reads show.
	FlowState func(t testing.TB, s Store, project, flow string) string
	// HeadSize, when set, is the size in bytes of the record that holds all
	// of a flow's routes (DynamoDB's head item, limited to 400 KB), for the
	// cases that check it stays bounded.
	HeadSize func(t testing.TB, s Store, project, flow string) int
	// LimitTags, when set, lowers a store's cap on a flow's routed tags
	// (registry.MaxLiveTags), so the TagCapacity case reaches it in a few
	// writes; without it the case fills the real cap.
	LimitTags func(s Store, n int)
	// TagCycles, when above 0, is how many tags the TagCycles case creates
	// and frees instead of 5,000, for engines whose writes slow down with
	// the table's size.
	TagCycles int
	// Counters matches the allocation counters in FlowState's rendering
	// that a change refused only at commit may advance (a route clock value
	// burnt like a version number); nil when there are none.
	Counters *regexp.Regexp
}

// fixture is one fresh store of an engine.
type fixture struct {
	store  Store
	engine Engine
}

func (f *fixture) trips() int64 { return f.engine.RoundTrips() }

func open(t testing.TB, e Engine, now func() time.Time) *fixture {
	t.Helper()
	return &fixture{store: e.Open(t, now), engine: e}
}

// A case is one test of the suite; each gets a fresh store.
type testCase struct {
	name string
	fn   func(*testing.T, *fixture)
	// faults: the case also holds while the engine fails and loses
	// answers (RunUnderFaults); the others count on every answer arriving
	// (dense versions under contention, a delete's first attempt).
	faults bool
}

// registryCases are the rules and races of deployments and tags.
var registryCases = []testCase{
	{"DeployRules", testDeployRules, true},
	{"Builds", testBuilds, true},
	{"TagCapacity", testTagCapacity, false},
	{"ConcurrentTagCreationsKeepTheCap", testConcurrentTagCreationsKeepTheCap, false},
	{"TagCycles", testTagCycles, false},
	{"TagRules", testTagRules, true},
	{"DeleteRules", testDeleteRules, true},
	{"Rollback", testRollback, true},
	{"History", testHistory, true},
	{"ResolveAndReads", testResolveAndReads, true},
	{"ProjectIsolation", testProjectIsolation, false},
	{"GetTag", testGetTag, false},
	{"RefusedTagChangesCommitNothing", testRefusedTagChangesCommitNothing, true},
	{"IfMatchLetsOneWriterPerRevision", testIfMatchLetsOneWriterPerRevision, true},
	{"RollbackAppliesToTheStateItRead", testRollbackAppliesToTheStateItRead, true},
	{"TagResponsesReportWhatWasCommitted", testTagResponsesReportWhatWasCommitted, true},
	{"DeletesCompleteUnderMixedLoad", testDeletesCompleteUnderMixedLoad, false},
	{"ConcurrentDeploysAllocateDenseVersions", testConcurrentDeploysAllocateDenseVersions, false},
	{"ConcurrentTagMovesAreAtomic", testConcurrentTagMovesAreAtomic, true},
	{"DeletesRacingTagMovesLeaveNoTagOnADeletedVersion", testDeletesRacingTagMovesLeaveNoTagOnADeletedVersion, true},
	{"TagChangesAreLinearizable", testTagChangesAreLinearizable, true},
	{"DeploysRacingTagMovesAreLinearizable", testDeploysRacingTagMovesAreLinearizable, false},
	{"LatestVersionSurvivesRacingDeletesAndDeploys", testLatestVersionSurvivesRacingDeletesAndDeploys, false},
	{"NothingLostOrDuplicated", testNothingLostOrDuplicated, true},
	{"CancelledRequestsAreUnavailable", testCancelledRequestsAreUnavailable, false},
	{"DeploySecrets", testDeploySecrets, false},
	{"SplitRules", testSplitRules, true},
	{"SplitPicksAreMembersOfTheSplitRead", testSplitPicksAreMembersOfTheSplitRead, true},
}

// otherCases are executions, keyed writes and API keys.
var otherCases = []testCase{
	{"ExecutionRecords", testExecutionRecords, false},
	{"ExecutionsKeepTheirRouteRevision", testExecutionsKeepTheirRouteRevision, false},
	{"AnswersHaveTheirWireForm", testAnswersHaveTheirWireForm, false},
	{"ExecutionIdempotency", testExecutionIdempotency, false},
	{"FinishExecution", testFinishExecution, false},
	{"AbandonExecution", testAbandonExecution, false},
	{"StartClaims", testStartClaims, false},
	{"RunningIndex", testRunningIndex, false},
	{"IdempotencyRecords", testIdempotencyRecords, false},
	{"InvocationKeysNameTheirRequest", testInvocationKeysNameTheirRequest, false},
	{"KeyCreateAndGet", testKeyCreateAndGet, false},
	{"ListKeysOldestFirst", testListKeysOldestFirst, false},
	{"RevokeKey", testRevokeKey, false},
	{"TouchKey", testTouchKey, false},
}

// budgetCases pin request counts; they run on engines that count them.
var budgetCases = []testCase{
	{"RoundTripBudget", testRoundTripBudget, false},
	{"KeyRoundTrips", testKeyRoundTrips, false},
	{"ExecutionRoundTrips", testExecutionRoundTrips, false},
	{"AbandonRoundTrips", testAbandonRoundTrips, false},
	{"RunningIndexRoundTrips", testRunningIndexRoundTrips, false},
	{"ListFlowsRoundTrips", testListFlowsRoundTrips, false},
	{"PruneRoundTrips", testPruneRoundTrips, false},
}

// Run runs the whole suite on e: every case as a subtest on a fresh store,
// the round-trip budgets too when e counts requests.
func Run(t *testing.T, e Engine) {
	run(t, e, registryCases, flowDeleteCases, pruneCases, otherCases)
	if e.RoundTrips == nil {
		t.Logf("%s does not count round trips: the budgets are not checked", e.Name)
		return
	}
	run(t, e, budgetCases)
}

// RunUnderFaults runs the deployment and tag cases that must also hold
// while the engine throttles, fails and loses answers: pkg/dynamo runs them
// with faults injected (round-trip budgets do not apply there, and a lost
// answer may burn a version number, so density is not checked).
func RunUnderFaults(t *testing.T, e Engine) {
	for _, c := range slices.Concat(registryCases, flowDeleteCases) {
		if c.faults {
			t.Run(c.name, func(t *testing.T) { c.fn(t, open(t, e, nil)) })
		}
	}
}

func run(t *testing.T, e Engine, groups ...[]testCase) {
	for _, cases := range groups {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.fn(t, open(t, e, nil)) })
		}
	}
}

// Project is the project the suite's cases use.
const Project = project

// WantCode fails t unless err is a *registry.Error with code whose message
// mentions every one of msgParts.
func WantCode(t *testing.T, err error, code registry.Code, msgParts ...string) {
	t.Helper()
	wantCode(t, err, code, msgParts...)
}
