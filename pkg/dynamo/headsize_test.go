package dynamo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/registry"
)

// itemSize is an item's size as DynamoDB counts it (dynamo.ItemSize).
func itemSize(item map[string]types.AttributeValue) int { return dynamo.ItemSize(item) }

// TestHeadAtTheTagCapFitsTheItemLimit routes tags of the longest name a
// tag may have (63 characters) on one flow, a third of them shared by two
// versions, measures the flow head and extrapolates to registry.MaxLiveTags
// (entries are independent, so the size is linear in their number): the cap
// must leave the item far below DynamoDB's 400 KB (docs/data-model.md, "How
// many tags a flow holds"). It also checks that a freed tag's entry leaves
// the head.
func TestHeadAtTheTagCapFitsTheItemLimit(t *testing.T) {
	const routed = 200
	f := newFixture(t, engines(t)[0], false, nil)
	ctx := context.Background()
	const project, flow = "proj", "capped"
	for range 2 {
		if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "f.py:capped", Inputs: json.RawMessage(`{}`), Stack: "dev", By: "tester"}); err != nil {
			t.Fatal(err)
		}
	}
	long := func(i int) string { return fmt.Sprintf("%s%04d", strings.Repeat("t", 59), i) }
	headSize := func() int {
		out, err := f.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(f.table), ConsistentRead: aws.Bool(true), Key: keyOf("P#"+project+"#F#"+flow, "FLOW")})
		if err != nil {
			t.Fatal(err)
		}
		return itemSize(out.Item)
	}
	base := headSize()
	for i := 2; i < 2+routed; i++ {
		shared := i%3 == 0
		for v := 1; v <= 2; v++ {
			if !shared && v == 2 {
				break
			}
			if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: long(i), Version: v, Exclusive: !shared, By: "tester"}); err != nil {
				t.Fatalf("tag %d: %v", i, err)
			}
		}
	}
	full := headSize()
	perTag := float64(full-base) / routed
	atCap := base + int(perTag*registry.MaxLiveTags)
	t.Logf("head with %d more tags of 63 characters: %d bytes, %.0f per tag; at the cap of %d: %d bytes", routed, full, perTag, registry.MaxLiveTags, atCap)
	if limit := 400 * 1000 / 2; atCap > limit {
		t.Errorf("head at the cap would be %d bytes; the cap must leave at least half of the 400 KB item for move backlogs and shared members (%d)", atCap, limit)
	}
	const freed = 50
	for i := 2; i < 2+freed; i++ {
		shared := i%3 == 0
		for v := 1; v <= 2; v++ {
			if !shared && v == 2 {
				break
			}
			if err := f.store.RemoveTag(ctx, registry.TagRequest{Project: project, Flow: flow, Tag: long(i), Version: v, By: "tester"}); err != nil {
				t.Fatalf("untag %d: %v", i, err)
			}
		}
	}
	after := headSize()
	left := perTag - float64(full-after)/freed
	t.Logf("after freeing %d of them: %d bytes; a freed tag leaves %.0f bytes behind", freed, after, left)
	if left > 8 {
		t.Errorf("a freed tag leaves %.0f bytes in the head; its entry should be removed", left)
	}
}
