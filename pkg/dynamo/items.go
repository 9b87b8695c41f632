package dynamo

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// head is the flow head item: the version counter, the route clock, the
// deployment count and every tag's route (one entry each in its "tags" map).
type head struct {
	Exists    bool
	Next      int64  // last allocated version
	Clock     int64  // last allocated route-change clock
	Count     int    // existing deployments
	RoutesRev int64  // route transactions committed
	Tick      string // token of the last tick (see Store.tick)
	Deleted   string // token of the last committed delete (see DeleteDeployment)
	// Gone is the token of a flow delete under way (see DeleteFlow): the head
	// is frozen and the flow reads as absent until the delete resets it.
	Gone string
	// Epoch names the flow's incarnation: the token of the flow delete that
	// reset the head ("" before any). A deploy commits only into the
	// incarnation it allocated its version in.
	Epoch     string
	Flow      string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Live holds the newest existing version and possibly some older ones
	// (see headChange.addLive); the highest key is the flow's latest version.
	Live map[string]bool
	Tags map[string]tagEntry
	// Freed is the highest route clock of a change that removed a freed
	// tag's entry: an absent tag reads as a free route at this clock and
	// revision (head.route), so revisions stay above any an old client
	// holds and a late change is still refused as superseded.
	Freed int64
	// Layout is the head's layout version (headLayout for heads this build
	// wrote; 0 for heads of earlier builds, which layout.go converts).
	Layout int
	// liveKnown is false for a head of a build before issue 15, which kept
	// no live versions: its latest version is found by a query (latestOf).
	liveKnown bool
}

// Latest is the flow's highest existing version (0 before the first deploy commits).
func (h head) Latest() int { return maxKey(h.Live) }

type headScalars struct {
	Next      int64           `dynamodbav:"next"`
	Clock     int64           `dynamodbav:"clock"`
	Count     int             `dynamodbav:"count"`
	RoutesRev int64           `dynamodbav:"routes_rev"`
	Tick      string          `dynamodbav:"tick"`
	Deleted   string          `dynamodbav:"deleted"`
	Gone      string          `dynamodbav:"gone"`
	Epoch     string          `dynamodbav:"epoch"`
	Flow      string          `dynamodbav:"flow"`
	CreatedAt time.Time       `dynamodbav:"created_at"`
	UpdatedAt time.Time       `dynamodbav:"updated_at"`
	Live      map[string]bool `dynamodbav:"live"`
	Freed     int64           `dynamodbav:"freed"`
	Layout    int             `dynamodbav:"layout"`
}

// tagEntry is one tag's route inside the head item. An exclusive entry with
// V == 0 and a shared entry without members are free: no version holds them.
// A change that frees a tag removes its entry (headChange.removeEntry), so
// the only free entry a layout-2 head holds is `default` before the flow's
// first deploy commits.
//
// An exclusive route is stored as M, its applied moves by route clock
// ("<clock>": target, 0 for none): the route is the move with the highest
// clock. A deploy adds its move without a condition, so concurrent deploys
// never invalidate each other's transactions; a tag request replaces M with
// its own move under a compare-and-swap on Rev. V, S and C are derived from M.
type tagEntry struct {
	X   bool                  `dynamodbav:"x"`            // exclusive
	M   map[string]moveTarget `dynamodbav:"m,omitempty"`  // exclusive moves: clock -> target; never empty
	V   int                   `dynamodbav:"-"`            // exclusive target (from M); 0 when split
	S   registry.Split        `dynamodbav:"-"`            // exclusive split (from M); nil unless split
	C   int64                 `dynamodbav:"c,omitempty"`  // clock of the last applied change (from M when exclusive)
	VS  map[string]bool       `dynamodbav:"vs,omitempty"` // shared members; never stored empty
	Rev int64                 `dynamodbav:"rev"`          // changes applied; the tag's revision
}

// moveTarget is where one exclusive move sends the tag: one version (a
// number attribute, 0 for none) or a split (a map attribute "version":
// weight). Deploys keep adding number moves without any condition; a split
// is only ever written by a tag request, which replaces the entry under the
// revision compare-and-swap. settle picks the highest clock whatever its
// kind, so a deploy after a split collapses it. docs/splits.md.
type moveTarget struct {
	V     int
	Split registry.Split
}

// MarshalDynamoDBAttributeValue stores a version as N and a split as M.
func (t moveTarget) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	if t.Split == nil {
		return &types.AttributeValueMemberN{Value: strconv.Itoa(t.V)}, nil
	}
	m := make(map[string]types.AttributeValue, len(t.Split))
	for v, w := range t.Split {
		m[strconv.Itoa(v)] = &types.AttributeValueMemberN{Value: strconv.Itoa(w)}
	}
	return &types.AttributeValueMemberM{Value: m}, nil
}

// UnmarshalDynamoDBAttributeValue reads either kind of move.
func (t *moveTarget) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	switch av := av.(type) {
	case *types.AttributeValueMemberN:
		v, err := strconv.Atoi(av.Value)
		if err != nil {
			return fmt.Errorf("decode move target %q: %w", av.Value, err)
		}
		*t = moveTarget{V: v}
	case *types.AttributeValueMemberM:
		split := make(registry.Split, len(av.Value))
		for k, wv := range av.Value {
			n, ok := wv.(*types.AttributeValueMemberN)
			v, verr := strconv.Atoi(k)
			if !ok || verr != nil {
				return fmt.Errorf("decode split move: member %q is not version: weight", k)
			}
			w, err := strconv.Atoi(n.Value)
			if err != nil {
				return fmt.Errorf("decode split move weight %q: %w", n.Value, err)
			}
			split[v] = w
		}
		*t = moveTarget{Split: split}
	default:
		return fmt.Errorf("decode move target: unexpected attribute %T", av)
	}
	return nil
}

// settle derives V, S and C of an exclusive entry from its moves.
func (e *tagEntry) settle() {
	if !e.X {
		return
	}
	e.V, e.S, e.C = 0, nil, 0
	for k, t := range e.M {
		if c, err := strconv.ParseInt(k, 10, 64); err == nil && c >= e.C {
			e.V, e.S, e.C = t.V, t.Split, c
		}
	}
}

// freeMoves is the moves of a free exclusive entry at clock.
func freeMoves(clock string) map[string]moveTarget { return map[string]moveTarget{clock: {}} }

// freeExclusive is the entry a tick creates for an exclusive tag the flow
// has never had, so that a deploy's move always finds M to add to.
var freeExclusive = tagEntry{X: true, M: freeMoves("0")}

// maxKey is the highest integer key of a map (0 for none).
func maxKey[V any](m map[string]V) int {
	best := 0
	for k := range m {
		if n, err := strconv.Atoi(k); err == nil && n > best {
			best = n
		}
	}
	return best
}

func (e tagEntry) versions() []int {
	if e.X {
		if e.S != nil {
			return e.S.Versions()
		}
		if e.V == 0 {
			return nil
		}
		return []int{e.V}
	}
	vs := make([]int, 0, len(e.VS))
	for k := range e.VS {
		if n, err := strconv.Atoi(k); err == nil {
			vs = append(vs, n)
		}
	}
	slices.Sort(vs)
	return vs
}

func (e tagEntry) free() bool { return len(e.versions()) == 0 }

// route is the entry as the domain's Route, whose transitions decide every
// route change; the adapter only writes their outcome.
func (e tagEntry) route(flow, tag string) registry.Route {
	return registry.Route{Flow: flow, Tag: tag, Exclusive: e.X, Versions: e.versions(), Split: e.S.Clone(), Revision: e.Rev, Clock: e.C}
}

// route is tag's entry, whether the head has it, and the route it stores.
// An absent tag (never used, or removed when freed) is a free route at the
// head's Freed clock and revision: every removed entry's revision and clock
// were at most that clock (each change takes its own clock value), so the
// tag re-created reports a revision above any it had, and a change older
// than the removal is superseded.
func (h head) route(flow, tag string) (tagEntry, bool, registry.Route) {
	e, ok := h.Tags[tag]
	if !ok {
		return e, false, registry.Route{Flow: flow, Tag: tag, Exclusive: true, Revision: h.Freed, Clock: h.Freed}
	}
	return e, true, e.route(flow, tag)
}

// entryOf is the entry that stores route r.
func entryOf(r registry.Route) tagEntry {
	if r.Exclusive {
		target := moveTarget{Split: r.Split.Clone()}
		if len(r.Versions) > 0 && r.Split == nil {
			target.V = r.Versions[0]
		}
		return tagEntry{X: true, M: map[string]moveTarget{strconv.FormatInt(r.Clock, 10): target}, Rev: r.Revision}
	}
	e := tagEntry{C: r.Clock, Rev: r.Revision}
	for _, v := range r.Versions {
		if e.VS == nil {
			e.VS = map[string]bool{}
		}
		e.VS[strconv.Itoa(v)] = true
	}
	return e
}

func (e tagEntry) holds(version int) bool {
	if e.X {
		_, member := e.S[version]
		return e.V == version || member
	}
	return e.VS[strconv.Itoa(version)]
}

func decodeHead(item map[string]types.AttributeValue) (head, error) {
	if len(item) == 0 {
		return head{Tags: map[string]tagEntry{}}, nil
	}
	var sc headScalars
	if err := attributevalue.UnmarshalMap(item, &sc); err != nil {
		return head{}, fmt.Errorf("decode flow head: %w", err)
	}
	h := head{Exists: true, Next: sc.Next, Clock: sc.Clock, Count: sc.Count, RoutesRev: sc.RoutesRev, Tick: sc.Tick, Deleted: sc.Deleted, Gone: sc.Gone, Epoch: sc.Epoch, Flow: sc.Flow, CreatedAt: sc.CreatedAt, UpdatedAt: sc.UpdatedAt, Live: sc.Live, Tags: map[string]tagEntry{}, Freed: sc.Freed, Layout: sc.Layout}
	_, h.liveKnown = item["live"]
	if h.Layout == 0 {
		// A head of an earlier build: its routes may be top-level t:<tag> attributes.
		tags, err := legacyTags(item)
		if err != nil {
			return head{}, err
		}
		h.Tags = tags
		return h, nil
	}
	tags, _ := item[tagsAttr].(*types.AttributeValueMemberM)
	if tags == nil {
		return h, nil
	}
	for tag, av := range tags.Value {
		var e tagEntry
		if err := attributevalue.Unmarshal(av, &e); err != nil {
			return head{}, fmt.Errorf("decode route of tag %q: %w", tag, err)
		}
		e.settle()
		h.Tags[tag] = e
	}
	return h, nil
}

// routes is the head's routing table without free tags.
func (h head) routes(flow string) registry.Routes {
	r := registry.Routes{}
	for name, e := range h.Tags {
		if vs := e.versions(); len(vs) > 0 {
			r[name] = registry.Tag{Flow: flow, Name: name, Exclusive: e.X, Versions: vs, Revision: e.Rev, Split: e.S.Clone()}
		}
	}
	return r
}

// tag reports one tag as the API shows it, free or not.
func (h head) tag(flow, name string) registry.Tag {
	e := h.Tags[name]
	return registry.Tag{Flow: flow, Name: name, Exclusive: e.X, Versions: nonNil(e.versions()), Revision: e.Rev, Split: e.S.Clone()}
}

func nonNil(vs []int) []int {
	if vs == nil {
		return []int{}
	}
	return vs
}

// versionItem is one deployment version. It is immutable once written; its
// tags live in the head item so that moving a tag touches one item.
type versionItem struct {
	PK          string           `dynamodbav:"PK"`
	SK          string           `dynamodbav:"SK"`
	Project     string           `dynamodbav:"project"`
	Flow        string           `dynamodbav:"flow"`
	Version     int              `dynamodbav:"version"`
	Snapshot    string           `dynamodbav:"snapshot"`
	Entrypoint  string           `dynamodbav:"entrypoint"`
	Source      *registry.Source `dynamodbav:"source,omitempty"`
	Inputs      string           `dynamodbav:"inputs"`
	InputSchema string           `dynamodbav:"input_schema,omitempty"`
	Stack       string           `dynamodbav:"stack"`
	Description string           `dynamodbav:"description,omitempty"`
	// Secrets are the names of the flow secrets the version declares (a
	// list, not a string set: minidyn keeps empty sets, and order is kept).
	Secrets   []string  `dynamodbav:"secrets,omitempty"`
	CreatedAt time.Time `dynamodbav:"created_at"`
	CreatedBy string    `dynamodbav:"created_by"`
	// Token is the deploy's own token: a re-sent deploy transaction that finds
	// its version already there knows from it that its first copy committed.
	Token string `dynamodbav:"token,omitempty"`
	// Routed is the route clock of the last tag request that routed a tag
	// here (deletes require it unchanged); 0 when none ever did.
	Routed int64 `dynamodbav:"routed,omitempty"`
}

func (v versionItem) deployment(routes registry.Routes) registry.Deployment {
	d := registry.Deployment{
		Project: v.Project, Flow: v.Flow, Version: v.Version, Snapshot: v.Snapshot,
		Tags: routes.TagsOf(v.Version), Entrypoint: v.Entrypoint, Source: v.Source,
		Inputs: json.RawMessage(v.Inputs), Stack: v.Stack, Description: v.Description, Secrets: v.Secrets,
		CreatedAt: v.CreatedAt, CreatedBy: v.CreatedBy,
	}
	if v.InputSchema != "" {
		d.InputSchema = json.RawMessage(v.InputSchema)
	}
	return d
}

func decodeVersion(item map[string]types.AttributeValue) (versionItem, error) {
	var v versionItem
	if err := attributevalue.UnmarshalMap(item, &v); err != nil {
		return versionItem{}, fmt.Errorf("decode deployment: %w", err)
	}
	return v, nil
}

// historyItem records one route change (I8). V is the version the change is
// about: the new target of a move, or the version a tag left. The "from" of an
// exclusive change is the target left by the change before it, so the chain of
// records is always consistent, also when concurrent deploys commit out of order.
type historyItem struct {
	PK        string          `dynamodbav:"PK"`
	SK        string          `dynamodbav:"SK"`
	Flow      string          `dynamodbav:"flow"`
	Tag       string          `dynamodbav:"tag"`
	Action    registry.Action `dynamodbav:"action"`
	Exclusive bool            `dynamodbav:"exclusive"`
	V         int             `dynamodbav:"v"`
	// S is the split an exclusive change made (V is then 0).
	S     registry.Split `dynamodbav:"s,omitempty"`
	Clock int64          `dynamodbav:"clock"`
	By    string         `dynamodbav:"by"`
	At    time.Time      `dynamodbav:"at"`
}

// leaves reports whether the change takes the tag off version V.
func (h historyItem) leaves() bool {
	return h.Action == registry.ActionRemove || h.Action == registry.ActionDelete
}

// change renders the record; older is the record before it, if known.
func (h historyItem) change(older *historyItem) registry.RouteChange {
	c := registry.RouteChange{Flow: h.Flow, Tag: h.Tag, Action: h.Action, Exclusive: h.Exclusive, Revision: h.Clock, By: h.By, At: h.At}
	v := h.V
	switch {
	case h.leaves():
		c.From = &v
	case h.Exclusive:
		if c.ToSplit = h.S.Clone(); c.ToSplit == nil {
			c.To = &v
		}
		switch {
		case older == nil || !older.Exclusive || older.leaves():
		case older.S != nil:
			c.FromSplit = older.S.Clone()
		case older.V != 0:
			from := older.V
			c.From = &from
		}
	default:
		c.To = &v
	}
	return c
}

func decodeHistory(item map[string]types.AttributeValue) (historyItem, error) {
	var h historyItem
	if err := attributevalue.UnmarshalMap(item, &h); err != nil {
		return historyItem{}, fmt.Errorf("decode tag history: %w", err)
	}
	return h, nil
}
