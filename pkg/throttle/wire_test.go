package throttle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/truora/minidyn/server"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/throttle"
)

// newTable is a registry table on an in-process minidyn behind a Table
// decorator with limits; the client tries each request once, so tests see
// every throttle.
func newTable(t *testing.T, limits throttle.Limits) (*dynamodb.Client, *throttle.Table, string) {
	t.Helper()
	sim := throttle.NewTable(limits)
	db, err := dynamo.NewClientFromConfig(aws.Config{}, "http://127.0.0.1:1",
		func(o *dynamodb.Options) { o.HTTPClient = throttle.HandlerClient{Handler: server.NewServer()} },
		sim.Option(),
		func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTable(context.Background(), db, "sim"); err != nil {
		t.Fatal(err)
	}
	return db, sim, "sim"
}

// sized is an item of about n bytes by DynamoDB's rules.
func sized(pk, sk string, n int) map[string]types.AttributeValue {
	pad := n - len("PK") - len(pk) - len("SK") - len(sk) - len("d")
	return map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk},
		"d": &types.AttributeValueMemberS{Value: strings.Repeat("x", pad)},
	}
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}
}

func at(t time.Duration) context.Context { return throttle.WithTime(context.Background(), t) }

func TestRequestsCostWhatDynamoDBCharges(t *testing.T) {
	tests := []struct {
		name                string
		send                func(db *dynamodb.Client, table string) error
		wantRead, wantWrite float64
	}{
		{"a put of an 8 KB item costs 8 write units", func(db *dynamodb.Client, table string) error {
			_, err := db.PutItem(at(0), &dynamodb.PutItemInput{TableName: &table, Item: sized("P#a", "X", 8192)})
			return err
		}, 0, 8},
		{"a strongly consistent read of an 8 KB item costs 2 read units", func(db *dynamodb.Client, table string) error {
			_, err := db.GetItem(at(0), &dynamodb.GetItemInput{TableName: &table, Key: key("P#a", "X"), ConsistentRead: aws.Bool(true)})
			return err
		}, 2, 0},
		{"an eventually consistent read of an 8 KB item costs 1 read unit", func(db *dynamodb.Client, table string) error {
			_, err := db.GetItem(at(0), &dynamodb.GetItemInput{TableName: &table, Key: key("P#a", "X")})
			return err
		}, 1, 0},
		{"a read of a missing item costs 1 read unit", func(db *dynamodb.Client, table string) error {
			_, err := db.GetItem(at(0), &dynamodb.GetItemInput{TableName: &table, Key: key("P#a", "none"), ConsistentRead: aws.Bool(true)})
			return err
		}, 1, 0},
		{"a transactional write of a 1 KB item costs 2 write units", func(db *dynamodb.Client, table string) error {
			_, err := db.TransactWriteItems(at(0), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: &table, Item: sized("P#b", "Y", 1000)}},
			}})
			return err
		}, 0, 2},
		{"an update of the 8 KB item without ALL_NEW costs 8 units, from its last size seen", func(db *dynamodb.Client, table string) error {
			_, err := db.UpdateItem(at(0), &dynamodb.UpdateItemInput{TableName: &table, Key: key("P#a", "X"),
				UpdateExpression: aws.String("SET n = :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}}})
			return err
		}, 0, 8},
	}
	db, sim, table := newTable(t, throttle.PartitionLimits())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := sim.Budgets.Stats()
			if err := tt.send(db, table); err != nil {
				t.Fatal(err)
			}
			after := sim.Budgets.Stats()
			if r, w := after.ReadUnits-before.ReadUnits, after.WriteUnits-before.WriteUnits; r != tt.wantRead || w != tt.wantWrite {
				t.Errorf("consumed %v read and %v write units, want %v and %v", r, w, tt.wantRead, tt.wantWrite)
			}
		})
	}
}

func TestAHotItemIsThrottledAsDynamoDBDoes(t *testing.T) {
	limits := throttle.PartitionLimits()
	limits.Scope = throttle.PerItem
	db, sim, table := newTable(t, limits)
	put := func(t time.Duration) error {
		_, err := db.PutItem(at(t), &dynamodb.PutItemInput{TableName: &table, Item: sized("P#a#F#hot", "FLOW", 1000)})
		return err
	}
	for i := range 1000 {
		if err := put(0); err != nil {
			t.Fatalf("write %d of the first second: %v", i+1, err)
		}
	}
	err := put(0)
	if code := apiCode(err); code != "ProvisionedThroughputExceededException" {
		t.Fatalf("the 1,001st write in one second: error %v (code %q), want ProvisionedThroughputExceededException", err, code)
	}
	// A transaction touching the hot item is cancelled whole.
	_, err = db.TransactWriteItems(at(0), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &table, Item: sized("P#a#F#cold", "FLOW", 100)}},
		{Put: &types.Put{TableName: &table, Item: sized("P#a#F#hot", "FLOW", 1000)}},
	}})
	cancelled, ok := errors.AsType[*types.TransactionCanceledException](err)
	if !ok {
		t.Fatalf("a transaction on the drained item: %v, want TransactionCanceledException", err)
	}
	if got := fmt.Sprint(aws.ToString(cancelled.CancellationReasons[0].Code), " ", aws.ToString(cancelled.CancellationReasons[1].Code)); got != "None ThrottlingError" {
		t.Errorf("cancellation reasons %q, want \"None ThrottlingError\"", got)
	}
	if err := put(time.Second); err != nil {
		t.Fatalf("a write one virtual second later: %v", err)
	}
	if got := sim.Budgets.Stats().Throttled["P#*#F#* / FLOW"]; got != 2 {
		t.Errorf("throttles seen %v, want 2 on P#*#F#* / FLOW", sim.Budgets.Stats().Throttled)
	}
}

func apiCode(err error) string {
	if api, ok := errors.AsType[smithy.APIError](err); ok {
		return api.ErrorCode()
	}
	return ""
}
