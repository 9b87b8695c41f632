package dynamo_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
)

func keyOf(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}}
}

// attrString renders an item deterministically (fmt prints maps sorted).
func attrString(item map[string]types.AttributeValue) string {
	var m map[string]any
	if err := attributevalue.UnmarshalMap(item, &m); err != nil {
		return err.Error()
	}
	return fmt.Sprint(m)
}

// deadClient is a client for an endpoint nothing listens on, trying each request once.
func deadClient(t *testing.T) *dynamodb.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	db, err := defaultconfig.NewClient(context.Background(), "http://"+addr, func(o *dynamodb.Options) {
		o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func newClient(endpoint string, opts ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	return defaultconfig.NewClient(context.Background(), endpoint, opts...)
}

func newStore(db *dynamodb.Client, table string) *dynamo.Store { return dynamo.New(db, table) }
