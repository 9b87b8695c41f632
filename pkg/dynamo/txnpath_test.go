package dynamo_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestTheEnginesRefusalOfARemovedNestedPathIsRecognised: DynamoDB refuses an
// update naming a nested path whose parent a concurrent change removed (a
// freed tag's entry) with a ValidationException before it evaluates any
// condition, and has no error code of its own for it; the store recognises
// it by its text and re-plans (txn.go). This pins that text on every engine
// we run, so a change in it fails here rather than as an internal error
// under a rare race.
func TestTheEnginesRefusalOfARemovedNestedPathIsRecognised(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			if _, err := f.store.Deploy(ctx, registry.DeployRequest{Project: "p", Flow: "paths", Entrypoint: "f.py:paths", Stack: "dev", By: "tester"}); err != nil {
				t.Fatal(err)
			}
			_, err := f.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &types.Update{
				TableName: aws.String(f.table), Key: keyOf("P#p#F#paths", "FLOW"),
				UpdateExpression:          aws.String("SET #tags.#gone.#m.#c = :v"),
				ConditionExpression:       aws.String("attribute_exists(PK)"),
				ExpressionAttributeNames:  map[string]string{"#tags": "tags", "#gone": "freed_meanwhile", "#m": "m", "#c": "7"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":v": &types.AttributeValueMemberN{Value: "1"}},
			}}}})
			if err == nil {
				t.Fatal("an update of a removed nested path committed")
			}
			if !dynamo.IsStaleDocumentPath(err) {
				t.Fatalf("the refusal is not recognised as a removed nested path: %v", err)
			}
		})
	}
}
