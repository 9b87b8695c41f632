package dynamo_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// TestAnInterruptedFlowDeleteIsFinishedByTheNext: a delete that stopped
// after freezing the head (its process died) leaves the flow frozen: no
// change commits and readers see no flow, until a delete is sent again.
func TestAnInterruptedFlowDeleteIsFinishedByTheNext(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			deploy := func() (registry.Deployment, error) {
				return f.store.Deploy(ctx, registry.DeployRequest{Project: "p", Flow: "frozen", Entrypoint: "f.py:frozen",
					Inputs: json.RawMessage(`{}`), Tag: "stable", Exclusive: true, Stack: "dev", By: "tester"})
			}
			for range 2 {
				if _, err := deploy(); err != nil {
					t.Fatal(err)
				}
			}
			// What the interrupted delete's first step wrote.
			if _, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: aws.String(f.table), Key: keyOf("P#p#F#frozen", "FLOW"),
				UpdateExpression:          aws.String("SET gone = :t"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberS{Value: "crashed"}},
			}); err != nil {
				t.Fatal(err)
			}

			t.Run("a deploy is refused as racing the delete", func(t *testing.T) {
				_, err := deploy()
				var re *registry.Error
				if !errors.As(err, &re) || re.Code != registry.CodeConflict || re.Details[registry.DetailReason] != registry.ReasonFlowBeingDeleted {
					t.Fatalf("deploy into a frozen flow: %v", err)
				}
			})
			t.Run("a tag move is refused and readers see no flow", func(t *testing.T) {
				if _, err := f.store.PutTag(ctx, registry.TagRequest{Project: "p", Flow: "frozen", Tag: "stable", Version: 1, Exclusive: true, By: "tester"}); err == nil {
					t.Fatal("a tag move into a frozen flow committed")
				}
				if _, err := f.store.GetFlow(ctx, "p", "frozen"); registry.CodeOf(err) != registry.CodeNotFound {
					t.Fatalf("GetFlow of a frozen flow: %v", err)
				}
			})
			t.Run("the next delete finishes it, without force, and numbers continue", func(t *testing.T) {
				got, err := f.store.DeleteFlow(ctx, "p", "frozen", false, "tester")
				if err != nil {
					t.Fatal(err)
				}
				// The refused deploy was refused by its tick: it allocated nothing.
				if len(got.Versions) != 2 || got.NextVersion != 3 {
					t.Fatalf("deletion %+v", got)
				}
				d, err := deploy()
				if err != nil || d.Version != 3 || !d.Tags["default"] {
					t.Fatalf("deploy after the delete: %+v, %v", d, err)
				}
			})
		})
	}
}
