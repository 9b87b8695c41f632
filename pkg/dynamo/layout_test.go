package dynamo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/registry"
)

// legacyFlow is the flow whose head the layout tests write as earlier
// builds stored it. Versions 1–4 exist (5 was deleted); default is on 4,
// stable on 2, the shared beta on 1 and 4, and retired is a free entry
// (earlier builds never removed entries).
const legacyFlow = "legacy"

// legacyRoutes is what every read must show for legacyFlow.
var legacyRoutes = map[string][]int{"default": {4}, "stable": {2}, "beta": {1, 4}}

// legacyLayouts are the head layouts of earlier builds, as raw attributes
// besides the scalars every one of them had.
var legacyLayouts = []struct {
	name  string
	attrs map[string]any
}{
	{"before issue 15 (t:<tag> with v/c, no live)", map[string]any{
		"t:default": map[string]any{"x": true, "v": 4, "c": 13, "rev": 5},
		"t:stable":  map[string]any{"x": true, "v": 2, "c": 11, "rev": 2},
		"t:beta":    map[string]any{"x": false, "v": 0, "c": 12, "vs": map[string]bool{"1": true, "4": true}, "rev": 2},
		"t:retired": map[string]any{"x": true, "v": 0, "c": 14, "rev": 3},
	}},
	{"issues 15-16 (t:<tag> with moves)", map[string]any{
		"live":      map[string]bool{"4": true},
		"t:default": map[string]any{"x": true, "m": map[string]int{"13": 4}, "rev": 5},
		"t:stable":  map[string]any{"x": true, "m": map[string]int{"11": 2}, "rev": 2},
		"t:beta":    map[string]any{"x": false, "c": 12, "vs": map[string]bool{"1": true, "4": true}, "rev": 2},
		"t:retired": map[string]any{"x": true, "m": map[string]int{"14": 0}, "rev": 3},
	}},
	{"issue 17 before the layout marker (tags map)", map[string]any{
		"live": map[string]bool{"4": true},
		"tags": map[string]any{
			"default": map[string]any{"x": true, "m": map[string]int{"13": 4}, "rev": 5},
			"stable":  map[string]any{"x": true, "m": map[string]int{"11": 2}, "rev": 2},
			"beta":    map[string]any{"x": false, "c": 12, "vs": map[string]bool{"1": true, "4": true}, "rev": 2},
			"retired": map[string]any{"x": true, "m": map[string]int{"14": 0}, "rev": 3},
		},
	}},
}

// writeLegacyFlow deploys versions 1–5 with this build, deletes version 5's
// item and replaces the head with one in the given legacy layout.
func writeLegacyFlow(t *testing.T, f *fixture, attrs map[string]any) {
	t.Helper()
	for range 5 {
		if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: legacyFlow, Entrypoint: "f.py:legacy",
			Inputs: json.RawMessage(`{}`), Stack: "dev", By: "tester"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(f.table), Key: keyOf(legacyPK, "V#0000000005")}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	h := map[string]any{"PK": legacyPK, "SK": "FLOW", "project": project, "flow": legacyFlow,
		"next": 5, "clock": 20, "count": 4, "routes_rev": 9, "tick": "an-old-tick", "deleted": "an-old-delete",
		"created_at": now, "updated_at": now}
	maps.Copy(h, attrs)
	item, err := attributevalue.MarshalMap(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: item}); err != nil {
		t.Fatal(err)
	}
}

var legacyPK = "P#" + project + "#F#" + legacyFlow

func rawHead(t *testing.T, f *fixture) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), Key: keyOf(legacyPK, "FLOW"), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

// wantConverted checks the head is in layout 2: the marker, no t:<tag>
// attribute, the routes in the tags map (no free entry but default), live,
// and a freed clock at or above the dropped free entry's.
func wantConverted(t *testing.T, f *fixture, routes map[string][]int) {
	t.Helper()
	item := rawHead(t, f)
	var h struct {
		Layout int                       `dynamodbav:"layout"`
		Freed  int64                     `dynamodbav:"freed"`
		Live   map[string]bool           `dynamodbav:"live"`
		Tags   map[string]map[string]any `dynamodbav:"tags"`
	}
	if err := attributevalue.UnmarshalMap(item, &h); err != nil {
		t.Fatal(err)
	}
	if h.Layout != 2 {
		t.Errorf("head layout %d, want 2 (%s)", h.Layout, attrString(item))
	}
	for name := range item {
		if strings.HasPrefix(name, "t:") {
			t.Errorf("head still has the legacy attribute %s", name)
		}
	}
	if len(h.Live) == 0 {
		t.Error("head has no live versions")
	}
	if h.Freed < 14 {
		t.Errorf("freed %d, want at least 14 (the dropped free entry's clock)", h.Freed)
	}
	got := slices.Sorted(maps.Keys(h.Tags))
	want := slices.Sorted(maps.Keys(routes))
	if !slices.Equal(got, want) {
		t.Errorf("head's tag entries %v, want %v", got, want)
	}
}

func flowTags(t *testing.T, f *fixture) registry.FlowSummary {
	t.Helper()
	s, err := f.store.GetFlow(ctx, project, legacyFlow)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHeadsOfEarlierBuildsAreReadAndConvertedOnTheirFirstWrite writes heads
// as every earlier build stored them; reads understand them as they are,
// and each kind of write works on them and leaves the head converted.
func TestHeadsOfEarlierBuildsAreReadAndConvertedOnTheirFirstWrite(t *testing.T) {
	for _, e := range engines(t) {
		for _, layout := range legacyLayouts {
			t.Run(e.name+"/"+layout.name, func(t *testing.T) {
				fresh := func(t *testing.T) *fixture {
					f := newFixture(t, e, false, nil)
					writeLegacyFlow(t, f, layout.attrs)
					return f
				}
				t.Run("reads show its routes and latest version before any write", func(t *testing.T) {
					f := fresh(t)
					before := attrString(rawHead(t, f))
					s := flowTags(t, f)
					if diff := cmp.Diff(legacyRoutes, s.Tags); diff != "" || s.LatestVersion != 4 || s.DeploymentCount != 4 || *s.DefaultVersion != 4 {
						t.Errorf("summary %+v; tags (-want +got):\n%s", s, diff)
					}
					list, err := f.store.ListFlows(ctx, project, registry.PageRequest{})
					if err != nil || len(list.Items) != 1 || list.Items[0].LatestVersion != 4 || !cmp.Equal(list.Items[0].Tags, legacyRoutes) {
						t.Errorf("list flows %+v, %v", list.Items, err)
					}
					for sel, want := range map[string]int{"default": 4, "stable": 2} {
						r, err := f.store.Resolve(ctx, project, legacyFlow, registry.Selector{Tag: sel})
						if err != nil || r.Deployment.Version != want {
							t.Errorf("resolve %s: v%d, %v; want v%d", sel, r.Deployment.Version, err, want)
						}
					}
					d, err := f.store.GetDeployment(ctx, project, legacyFlow, 1)
					if err != nil || !cmp.Equal(d.Tags, map[string]bool{"beta": false}) {
						t.Errorf("v1 tags %v, %v; want beta", d.Tags, err)
					}
					deps, err := f.store.ListDeployments(ctx, project, legacyFlow, registry.PageRequest{})
					if err != nil || len(deps.Items) != 4 {
						t.Errorf("list deployments: %d, %v", len(deps.Items), err)
					}
					tg, err := f.store.GetTag(ctx, project, legacyFlow, "stable")
					if err != nil || tg.Revision != 2 || !slices.Equal(tg.Versions, []int{2}) {
						t.Errorf("tag stable %+v, %v", tg, err)
					}
					if after := attrString(rawHead(t, f)); after != before {
						t.Errorf("a read changed the head:\n%s\n%s", before, after)
					}
				})
				t.Run("a tag move converts it", func(t *testing.T) {
					f := fresh(t)
					tg, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "stable", Version: 1, Exclusive: true, IfRevision: ptr(int64(2)), By: "tester"})
					if err != nil || tg.Revision <= 2 {
						t.Fatalf("move: %+v, %v", tg, err)
					}
					want := map[string][]int{"default": {4}, "stable": {1}, "beta": {1, 4}}
					wantConverted(t, f, want)
					if s := flowTags(t, f); !cmp.Equal(s.Tags, want) || s.LatestVersion != 4 {
						t.Errorf("summary after the move %+v", s)
					}
				})
				t.Run("a freed tag re-created gets a revision above its legacy one", func(t *testing.T) {
					f := fresh(t)
					tg, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "retired", Version: 3, Exclusive: true, By: "tester"})
					if err != nil || tg.Revision <= 3 {
						t.Fatalf("re-create retired: %+v, %v; want a revision above 3", tg, err)
					}
				})
				t.Run("a deploy converts it", func(t *testing.T) {
					f := fresh(t)
					d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: legacyFlow, Entrypoint: "f.py:legacy", Inputs: json.RawMessage(`{}`), Stack: "dev", By: "tester"})
					if err != nil || d.Version != 6 || !d.Tags["default"] {
						t.Fatalf("deploy: %+v, %v; want v6 with default", d, err)
					}
					want := map[string][]int{"default": {6}, "stable": {2}, "beta": {1, 4}}
					wantConverted(t, f, want)
					if s := flowTags(t, f); !cmp.Equal(s.Tags, want) || s.LatestVersion != 6 || s.DeploymentCount != 5 {
						t.Errorf("summary after the deploy %+v", s)
					}
				})
				t.Run("a tag remove converts it", func(t *testing.T) {
					f := fresh(t)
					if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "beta", Version: 1, By: "tester"}); err != nil {
						t.Fatal(err)
					}
					want := map[string][]int{"default": {4}, "stable": {2}, "beta": {4}}
					wantConverted(t, f, want)
					if s := flowTags(t, f); !cmp.Equal(s.Tags, want) {
						t.Errorf("summary after the remove %+v", s)
					}
				})
				t.Run("a version delete converts it", func(t *testing.T) {
					f := fresh(t)
					// v3 holds no tag: its delete ticks nothing, only its transaction meets the head.
					if err := f.store.DeleteDeployment(ctx, project, legacyFlow, 3, "tester"); err != nil {
						t.Fatal(err)
					}
					wantConverted(t, f, legacyRoutes)
					// v1 holds the shared beta: its delete ticks first.
					if err := f.store.DeleteDeployment(ctx, project, legacyFlow, 1, "tester"); err != nil {
						t.Fatal(err)
					}
					if s := flowTags(t, f); !cmp.Equal(s.Tags, map[string][]int{"default": {4}, "stable": {2}, "beta": {4}}) || s.LatestVersion != 4 || s.DeploymentCount != 2 {
						t.Errorf("summary after the deletes %+v", s)
					}
				})
				t.Run("a version delete of a head's first write converts it when it is the latest", func(t *testing.T) {
					f := fresh(t)
					if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "default", Version: 2, Exclusive: true, By: "tester"}); err != nil {
						t.Fatal(err)
					}
					if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "beta", Version: 4, By: "tester"}); err != nil {
						t.Fatal(err)
					}
					if err := f.store.DeleteDeployment(ctx, project, legacyFlow, 4, "tester"); err != nil {
						t.Fatal(err)
					}
					if s := flowTags(t, f); s.LatestVersion != 3 || s.DeploymentCount != 3 {
						t.Errorf("summary after deleting the latest %+v; want latest 3", s)
					}
				})
				t.Run("a flow delete works on it and leaves a fresh head", func(t *testing.T) {
					f := fresh(t)
					got, err := f.store.DeleteFlow(ctx, project, legacyFlow, true, "tester")
					if err != nil || !slices.Equal(got.Versions, []int{1, 2, 3, 4}) || got.NextVersion != 6 || !cmp.Equal(got.Tags, legacyRoutes) {
						t.Fatalf("flow delete: %+v, %v", got, err)
					}
					if _, err := f.store.GetFlow(ctx, project, legacyFlow); registry.CodeOf(err) != registry.CodeNotFound {
						t.Fatalf("GetFlow after the delete: %v", err)
					}
					d, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: legacyFlow, Entrypoint: "f.py:legacy", Inputs: json.RawMessage(`{}`), Tag: "stable", Exclusive: true, Stack: "dev", By: "tester"})
					if err != nil || d.Version != 6 {
						t.Fatalf("deploy after the delete: %+v, %v", d, err)
					}
					tg, err := f.store.GetTag(ctx, project, legacyFlow, "stable")
					if err != nil || tg.Revision <= 2 {
						t.Errorf("stable re-created at revision %d, %v; want above its legacy 2", tg.Revision, err)
					}
					item := rawHead(t, f)
					if _, ok := item["t:stable"]; ok || attrNumber(item, "layout") != "2" {
						t.Errorf("head after the flow delete: %s", attrString(item))
					}
				})
				t.Run("concurrent first writes all commit once and convert the head once", func(t *testing.T) {
					f := fresh(t)
					var puts atomic.Int64
					db, err := newClient(e.endpoint, countSuccessful("PutItem", &puts))
					if err != nil {
						t.Fatal(err)
					}
					store := dynamo.New(db, f.table)
					const n = 8
					errs := make([]error, n)
					var wg sync.WaitGroup
					for i := range n {
						wg.Go(func() {
							_, errs[i] = store.PutTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: fmt.Sprintf("c%d", i), Version: 1 + i%4, Exclusive: true, By: "racer"})
						})
					}
					wg.Wait()
					want := maps.Clone(legacyRoutes)
					for i, err := range errs {
						if err != nil {
							t.Errorf("move %d: %v", i, err)
						}
						want[fmt.Sprintf("c%d", i)] = []int{1 + i%4}
					}
					if got := puts.Load(); got != 1 {
						t.Errorf("the head was converted %d times, want once", got)
					}
					wantConverted(t, f, want)
					if s := flowTags(t, f); !cmp.Equal(s.Tags, want) {
						t.Errorf("summary after the moves %+v", s.Tags)
					}
					for i := range n {
						h, err := f.store.TagHistory(ctx, project, legacyFlow, fmt.Sprintf("c%d", i), registry.PageRequest{})
						if err != nil || len(h.Items) != 1 {
							t.Errorf("c%d history %+v, %v; want its one move", i, h.Items, err)
						}
					}
					if rr := attrNumber(rawHead(t, f), "routes_rev"); rr != "17" {
						t.Errorf("routes_rev %s, want 17 (9 + one per move)", rr)
					}
				})
			})
		}
	}
}

// TestAHeadOfANewerLayoutIsLeftAlone: a build that meets a head a later
// build wrote refuses to change it, with a message saying what to do.
func TestAHeadOfANewerLayoutIsLeftAlone(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			writeLegacyFlow(t, f, map[string]any{"layout": 3, "live": map[string]bool{"4": true}, "tags": map[string]any{"default": map[string]any{"x": true, "m": map[string]int{"13": 4}, "rev": 5}}})
			before := attrString(rawHead(t, f))
			_, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "stable", Version: 1, Exclusive: true, By: "tester"})
			if registry.CodeOf(err) != registry.CodeUnavailable || !strings.Contains(err.Error(), "finish upgrading") {
				t.Errorf("move on a newer head: %v", err)
			}
			if after := attrString(rawHead(t, f)); after != before {
				t.Errorf("the head changed:\n%s\n%s", before, after)
			}
		})
	}
}

func attrNumber(item map[string]types.AttributeValue, name string) string {
	if n, ok := item[name].(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// countSuccessful counts the calls of one operation that succeeded.
func countSuccessful(op string, n *atomic.Int64) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countSuccessful",
				func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
					out, md, err := next.HandleInitialize(ctx, in)
					if err == nil && middleware.GetOperationName(ctx) == op {
						n.Add(1)
					}
					return out, md, err
				}), middleware.After)
		})
	}
}

// TestHeadsOfEarlierBuildsAreConvertedUnderFaults: the conversion holds
// while the engine throttles, fails and loses answers (a lost answer of the
// conversion's put is re-sent and finds the head already marked).
func TestHeadsOfEarlierBuildsAreConvertedUnderFaults(t *testing.T) {
	for _, e := range engines(t) {
		for _, layout := range legacyLayouts {
			t.Run(e.name+"/"+layout.name, func(t *testing.T) {
				f := newFixture(t, e, true, nil)
				writeLegacyFlow(t, f, layout.attrs)
				var wg sync.WaitGroup
				errs := make([]error, 4)
				wg.Go(func() {
					_, errs[0] = f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "stable", Version: 1, Exclusive: true, By: "tester"})
				})
				wg.Go(func() {
					errs[1] = f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: legacyFlow, Tag: "beta", Version: 1, By: "tester"})
				})
				var d registry.Deployment
				wg.Go(func() {
					d, errs[2] = f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: legacyFlow, Entrypoint: "f.py:legacy", Inputs: json.RawMessage(`{}`), Tag: "canary", Exclusive: true, Stack: "dev", By: "tester"})
				})
				wg.Go(func() { errs[3] = f.store.DeleteDeployment(ctx, project, legacyFlow, 3, "tester") })
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Errorf("write %d: %v", i, err)
					}
				}
				// A lost answer may burn a version number: canary is on the deploy's.
				want := map[string][]int{"default": {4}, "stable": {1}, "beta": {4}, "canary": {d.Version}}
				wantConverted(t, f, want)
				if s := flowTags(t, f); !cmp.Equal(s.Tags, want) || s.DeploymentCount != 4 || s.LatestVersion != d.Version {
					t.Errorf("summary %+v", s)
				}
			})
		}
	}
}
