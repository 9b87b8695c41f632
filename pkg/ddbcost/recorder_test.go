package ddbcost_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/ddbcost"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/localdynamo"
)

var ctx = context.Background()

// engines are minidyn, in-process, and DynamoDB Local when
// DYNAMODB_ENDPOINT is set (KITARU_REQUIRE_DYNAMODB_LOCAL makes it required).
func engines(t *testing.T) map[string]string {
	srv, err := localdynamo.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	list := map[string]string{"minidyn": srv.URL}
	if ep := os.Getenv("DYNAMODB_ENDPOINT"); ep != "" {
		list["dynamodb-local"] = ep
	} else if os.Getenv("KITARU_REQUIRE_DYNAMODB_LOCAL") != "" {
		t.Fatal("KITARU_REQUIRE_DYNAMODB_LOCAL is set but DYNAMODB_ENDPOINT is empty: start DynamoDB Local (scripts/dynamodb-local.sh start)")
	}
	return list
}

func client(endpoint string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true,
	}, opts...)
}

func newTable(t *testing.T, db *dynamodb.Client) string {
	table := fmt.Sprintf("ddbcost-%d", time.Now().UnixNano())
	s := types.ScalarAttributeTypeS
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &table,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("PK"), AttributeType: s}, {AttributeName: aws.String("SK"), AttributeType: s}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("PK"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("SK"), KeyType: types.KeyTypeRange}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table}) })
	return table
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// sized is an item of exactly n bytes (keys PK=a, SK=sk, a "pad" string).
func sized(sk string, n int) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": str("a"), "SK": str(sk), "pad": str(strings.Repeat("x", n-len("PKaSKpad")-len(sk)))}
}

// TestRecorderMeasuresWhatTheWireHides: on real engines the recorder reads
// the sizes an update, a replacing put, a delete and a projected read do not
// show, and prices each call by them.
func TestRecorderMeasuresWhatTheWireHides(t *testing.T) {
	for name, endpoint := range engines(t) {
		t.Run(name, func(t *testing.T) {
			rec := &ddbcost.Recorder{}
			db := client(endpoint, rec.Option())
			table := newTable(t, db)
			key := map[string]types.AttributeValue{"PK": str("a"), "SK": str("1")}
			steps := []struct {
				name string
				do   func() error
				want []ddbcost.Access
			}{
				{"a new 500-byte item costs 1 write unit", func() error {
					_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: sized("1", 500)})
					return err
				}, []ddbcost.Access{{Table: table, PK: "a", SK: "1", Write: true, Before: 0, After: 500, Bytes: 500, Units: 1}}},
				{"an update growing it to 1,500 bytes costs 2", func() error {
					_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table, Key: key,
						UpdateExpression: aws.String("SET #p = :p"), ExpressionAttributeNames: map[string]string{"#p": "pad"}, ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(strings.Repeat("y", 1500-len("PKaSK1pad")))}})
					return err
				}, []ddbcost.Access{{Table: table, PK: "a", SK: "1", Write: true, Before: 500, After: 1500, Bytes: 1500, Units: 2}}},
				{"a failed conditional update still costs the item's units", func() error {
					_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &table, Key: key, ConditionExpression: aws.String("attribute_not_exists(PK)"),
						UpdateExpression: aws.String("SET #p = :p"), ExpressionAttributeNames: map[string]string{"#p": "pad"}, ExpressionAttributeValues: map[string]types.AttributeValue{":p": str("z")}})
					if ccf := (*types.ConditionalCheckFailedException)(nil); !errors.As(err, &ccf) {
						return fmt.Errorf("want a failed condition, got %v", err)
					}
					return nil
				}, []ddbcost.Access{{Table: table, PK: "a", SK: "1", Write: true, Before: 1500, After: 1500, Bytes: 1500, Units: 2}}},
				{"a put replacing it with 100 bytes costs what the old item did", func() error {
					_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: sized("1", 100)})
					return err
				}, []ddbcost.Access{{Table: table, PK: "a", SK: "1", Write: true, Before: 1500, After: 100, Bytes: 1500, Units: 2}}},
				{"a projected read costs the whole item", func() error {
					_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("SK")})
					return err
				}, []ddbcost.Access{{Table: table, PK: "a", SK: "1", Consistent: true, Bytes: 100, Units: 1}}},
				{"a delete costs the item it removes", func() error {
					_, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table, Key: key})
					return err
				}, []ddbcost.Access{{Table: table, PK: "a", SK: "1", Write: true, Before: 100, After: 0, Bytes: 100, Units: 1}}},
			}
			for _, s := range steps {
				t.Run(s.name, func(t *testing.T) {
					rec.Take()
					if err := s.do(); err != nil {
						t.Fatal(err)
					}
					calls := rec.Take()
					if len(calls) != 1 {
						t.Fatalf("recorded %d calls, want 1: %+v", len(calls), calls)
					}
					if diff := diffAccesses(s.want, calls[0].Accesses); diff != "" {
						t.Errorf("accesses (-want +got):\n%s", diff)
					}
				})
			}
			if err := rec.Err(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRecorderCountsAttempts: a write the engine throttles is recorded once
// per attempt, the throttled attempts at no cost.
func TestRecorderCountsAttempts(t *testing.T) {
	for name, endpoint := range engines(t) {
		t.Run(name, func(t *testing.T) {
			rec := &ddbcost.Recorder{}
			faults := &dynamotest.Faults{Throttle: 0.5, Seed: 7}
			db := client(endpoint, faults.Option(), rec.Option(), func(o *dynamodb.Options) {
				o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = 20; so.MaxBackoff = time.Millisecond })
			})
			table := newTable(t, db)
			rec.Take()
			const puts = 10
			for i := range puts {
				if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: sized(fmt.Sprint(i), 300)}); err != nil {
					t.Fatal(err)
				}
			}
			var ok, throttled, retries int
			for _, c := range rec.Take() {
				if c.Attempt > 1 {
					retries++
				}
				read, write := c.Units()
				switch c.Err {
				case "":
					ok++
					if write != 1 || read != 0 {
						t.Errorf("attempt %d cost %v read and %v write units, want 0 and 1", c.Attempt, read, write)
					}
				case "ThrottlingException":
					throttled++
					if write != 0 {
						t.Errorf("a throttled attempt cost %v write units", write)
					}
				default:
					t.Errorf("unexpected error %s", c.Err)
				}
			}
			if ok != puts || int64(throttled) != faults.Throttled.Load() || throttled == 0 {
				t.Errorf("recorded %d answered and %d throttled attempts; want %d and %d (more than 0)", ok, throttled, puts, faults.Throttled.Load())
			}
			if retries != throttled {
				t.Errorf("%d attempts were numbered retries, want one per throttle (%d)", retries, throttled)
			}
		})
	}
}
