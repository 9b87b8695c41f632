package dynamo_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

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
			freeze := func(at time.Time) {
				t.Helper()
				if _, err := f.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(f.table), Key: keyOf("P#p#F#frozen", "FLOW"),
					UpdateExpression: aws.String("SET gone = :t, updated_at = :at"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberS{Value: "crashed"},
						":at": &types.AttributeValueMemberS{Value: at.UTC().Format(time.RFC3339Nano)}},
				}); err != nil {
					t.Fatal(err)
				}
			}
			freeze(time.Now())

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
			t.Run("a delete while the freeze is recent is refused: the delete that froze it may still be sweeping", func(t *testing.T) {
				_, err := f.store.DeleteFlow(ctx, "p", "frozen", true, "tester")
				var re *registry.Error
				if !errors.As(err, &re) || re.Code != registry.CodeConflict || re.Details[registry.DetailReason] != registry.ReasonFlowBeingDeleted {
					t.Fatalf("delete of a flow frozen a moment ago: %v", err)
				}
			})
			freeze(time.Now().Add(-time.Hour))
			t.Run("the next delete finishes it, without force, answers not found (the flow went at the freeze), and numbers continue", func(t *testing.T) {
				_, err := f.store.DeleteFlow(ctx, "p", "frozen", false, "tester")
				if registry.CodeOf(err) != registry.CodeNotFound {
					t.Fatalf("delete of a frozen flow: %v, want not_found", err)
				}
				out, err := f.db.Query(ctx, &dynamodb.QueryInput{
					TableName: aws.String(f.table), KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :v)"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "P#p#F#frozen"}, ":v": &types.AttributeValueMemberS{Value: "V#"}},
				})
				if err != nil || len(out.Items) != 0 {
					t.Fatalf("version items left after the delete finished: %d, %v", len(out.Items), err)
				}
				// The refused deploy was refused by its tick: it allocated nothing.
				d, err := deploy()
				if err != nil || d.Version != 3 || !d.Tags["default"] {
					t.Fatalf("deploy after the delete: %+v, %v", d, err)
				}
			})
		})
	}
}
