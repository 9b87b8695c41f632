package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// This file holds the flow head's layout versions and the lazy conversion
// of heads that earlier builds wrote (docs/data-model.md, "Layout versions").
//
// A head without the `layout` attribute is one of:
//
//   - issue 17 before the marker: routes in the `tags` map (what layout 2
//     stores), possibly with free entries of tags no version holds;
//   - issue 15/16: each route a top-level `t:<tag>` attribute of the same
//     shape (exclusive routes as moves `m`), entries never removed;
//   - before issue 15: `t:<tag>` with an exclusive entry as `{x, v, c, rev}`
//     (target v, set at clock c), and no `live` map.
//
// Reads understand all of them (decodeHead); no write trusts them: every
// tick and every head update of a transaction requires `layout = 2`, and
// when that fails on an unmarked head the head is converted (convertHead)
// and the write planned again.

// headLayout is the layout this build reads and writes. Layout 2: routes in
// the `tags` map, exclusive routes as moves, `live` present, and no free
// entry except `default` before the flow's first committed deploy.
const headLayout = 2

// nameLayout is the head's layout attribute.
var nameLayout = expression.Name(layoutAttr)

// layoutIsCurrent is the condition every head write of this build carries:
// the head is of this build's layout (a new head gets it from its tick).
func layoutIsCurrent() expression.ConditionBuilder {
	return nameLayout.Equal(expression.Value(headLayout))
}

// legacyEntry is a tag entry as any earlier build stored it.
type legacyEntry struct {
	X   bool            `dynamodbav:"x"`
	M   map[string]int  `dynamodbav:"m"`
	V   int             `dynamodbav:"v"` // before issue 15: the exclusive target
	C   int64           `dynamodbav:"c"` // before issue 15: the clock that set v
	VS  map[string]bool `dynamodbav:"vs"`
	Rev int64           `dynamodbav:"rev"`
}

// entry is the legacy entry in this build's shape: an exclusive target v
// set at clock c is the single move {c: v}.
func (l legacyEntry) entry() tagEntry {
	e := tagEntry{X: l.X, VS: l.VS, Rev: l.Rev}
	for k, v := range l.M {
		if e.M == nil {
			e.M = map[string]moveTarget{}
		}
		e.M[k] = moveTarget{V: v}
	}
	if l.X && len(l.M) == 0 {
		e.M = map[string]moveTarget{strconv.FormatInt(l.C, 10): {V: l.V}}
	}
	if !l.X {
		e.C = l.C
	}
	e.settle()
	return e
}

// legacyTags reads the routes of an unmarked head: the `tags` map and any
// top-level `t:<tag>` attributes. Where both hold a tag (a build between
// the two layouts seeded the map on a head that had t: attributes), the
// entry with more changes applied wins, the map's on a tie.
func legacyTags(item map[string]types.AttributeValue) (map[string]tagEntry, error) {
	tags := map[string]tagEntry{}
	add := func(tag string, av types.AttributeValue, fromMap bool) error {
		var l legacyEntry
		if err := attributevalue.Unmarshal(av, &l); err != nil {
			return fmt.Errorf("decode route of tag %q: %w", tag, err)
		}
		e := l.entry()
		if old, ok := tags[tag]; ok && (old.Rev > e.Rev || old.Rev == e.Rev && !fromMap) {
			return nil
		}
		tags[tag] = e
		return nil
	}
	for name, av := range item {
		if tag, ok := strings.CutPrefix(name, legacyTagPrefix); ok {
			if err := add(tag, av, false); err != nil {
				return nil, err
			}
		}
	}
	if m, ok := item[tagsAttr].(*types.AttributeValueMemberM); ok {
		for tag, av := range m.Value {
			if err := add(tag, av, true); err != nil {
				return nil, err
			}
		}
	}
	return tags, nil
}

// stored is the entry as layout 2 stores it (an exclusive entry's c is
// derived from its moves, not stored).
func (e tagEntry) stored() tagEntry {
	if e.X {
		e.C, e.VS = 0, nil
	} else {
		e.M = nil
	}
	return e
}

// convertedItem is the unmarked head item in layout 2: its routes moved into
// the `tags` map, the top-level t:<tag> attributes dropped, free entries
// other than `default` removed (raising `freed` as a removal does, so a
// re-created tag's revisions stay above the old ones), `live` set from
// latest when the head had none, and the marker. Every other attribute is
// kept as it is.
func convertedItem(item map[string]types.AttributeValue, h head, latest int) (map[string]types.AttributeValue, error) {
	out := maps.Clone(item)
	for name := range out {
		if strings.HasPrefix(name, legacyTagPrefix) {
			delete(out, name)
		}
	}
	freed := h.Freed
	tags := map[string]tagEntry{}
	for name, e := range h.Tags {
		if e.free() && name != registry.DefaultTag {
			freed = max(freed, e.C, e.Rev)
			continue
		}
		tags[name] = e.stored()
	}
	if len(tags) == 0 {
		// Never store an empty map (minidyn garbles them): a free default
		// at the freed clock reads as an absent tag would.
		clock := strconv.FormatInt(freed, 10)
		tags[registry.DefaultTag] = tagEntry{X: true, M: freeMoves(clock), Rev: freed}
	}
	fields := map[string]any{tagsAttr: tags, layoutAttr: headLayout}
	if freed > 0 {
		fields["freed"] = freed
	}
	if !h.liveKnown {
		fields["live"] = map[string]bool{strconv.Itoa(latest): true}
	}
	av, err := attributevalue.MarshalMap(fields)
	if err != nil {
		return nil, fmt.Errorf("encode converted flow head: %w", err)
	}
	maps.Copy(out, av)
	return out, nil
}

// unchangedSince requires the head to be exactly the unmarked head item
// read: still unmarked, and every attribute some write changes (a tick's
// token, a route transaction's routes_rev, a freeze's gone, the counters)
// as read, so the conversion replaces no write it did not see.
func unchangedSince(item map[string]types.AttributeValue) expression.ConditionBuilder {
	cond := expression.AttributeExists(expression.Name(attrPK)).And(expression.AttributeNotExists(nameLayout))
	for _, name := range []string{"tick", "routes_rev", "clock", "next", "count", "gone", "deleted", "freed", "updated_at", "live"} {
		n := expression.Name(name)
		switch v := item[name].(type) {
		case nil:
			cond = cond.And(expression.AttributeNotExists(n))
		case *types.AttributeValueMemberS:
			cond = cond.And(n.Equal(expression.Value(v.Value)))
		case *types.AttributeValueMemberN:
			cond = cond.And(n.Equal(expression.Value(attributevalue.Number(v.Value))))
		default:
			// A map (live): its presence is what the conversion depends on;
			// any change of it comes with a change of count or tick.
			cond = cond.And(expression.AttributeExists(n))
		}
	}
	return cond
}

// convertHead converts the unmarked head item (as last read) to this
// build's layout with one conditional write and returns the head as
// converted. The write replaces the item (a conversion may drop thousands
// of t:<tag> attributes, more than one update expression may name) under
// unchangedSince; when it fails, another writer changed the head first (or
// another conversion won): the head is read again and converted again if
// it still needs it. A marked head is returned as it is.
func (s *Store) convertHead(ctx context.Context, pk string, item map[string]types.AttributeValue) (head, error) {
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		h, err := decodeHead(item)
		switch {
		case err != nil:
			return head{}, err
		case !h.Exists || h.Layout == headLayout:
			return h, nil
		case h.Layout > headLayout:
			return head{}, newerLayout(h)
		}
		latest := h.Latest()
		if !h.liveKnown {
			if latest, err = s.highestVersion(ctx, pk, nil); err != nil {
				return head{}, fmt.Errorf("convert flow head: %w", err)
			}
		}
		converted, err := convertedItem(item, h, latest)
		if err != nil {
			return head{}, err
		}
		expr, err := expression.NewBuilder().WithCondition(unchangedSince(item)).Build()
		if err != nil {
			return head{}, fmt.Errorf("build flow head conversion: %w", err)
		}
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table), Item: converted, ConditionExpression: expr.Condition(),
			ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &ccf):
			if item = ccf.Item; len(item) == 0 {
				if item, err = s.getHeadItem(ctx, pk); err != nil {
					return head{}, err
				}
			}
		case err != nil:
			return head{}, engineError("convert flow head", err)
		default:
			return decodeHead(converted)
		}
	}
	return head{}, errContended
}

// newerLayout is the answer of a build that finds a head of a later layout:
// a newer build of the service wrote it, and this one must not change it.
func newerLayout(h head) error {
	return registry.Errorf(registry.CodeUnavailable, "flow %q was written by a newer version of the service (head layout %d, this one knows %d); finish upgrading the service, then retry",
		h.Flow, h.Layout, headLayout)
}

// latestOf is the flow's latest existing version. Only a head of a build
// before issue 15 (no `live`, until its first write converts it) costs a
// query; every other head carries it.
func (s *Store) latestOf(ctx context.Context, pk string, h head) (int, error) {
	if h.liveKnown || !h.Exists {
		return h.Latest(), nil
	}
	return s.highestVersion(ctx, pk, nil)
}
