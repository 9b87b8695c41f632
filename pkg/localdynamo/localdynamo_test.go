package localdynamo_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/localdynamo"
)

// TestTransactGetItemsIsOneSnapshot: a writer moves two items to the same
// value in one transaction while readers read both in one TransactGetItems;
// every read must see them equal, as DynamoDB's serializable transactions
// promise. minidyn alone reads the items one GetItem at a time, so a read
// could pair one item from before a write with the other from after it (the
// store's version delete relies on this snapshot: docs/data-model.md).
func TestTransactGetItemsIsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	srv, err := localdynamo.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	db, err := defaultconfig.NewClient(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	const table = "snapshot"
	if err := dynamo.CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	key := func(sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "pair"}, "SK": &types.AttributeValueMemberS{Value: sk},
		}
	}
	put := func(sk string, n int) types.TransactWriteItem {
		item := key(sk)
		item["n"] = &types.AttributeValueMemberN{Value: strconv.Itoa(n)}
		return types.TransactWriteItem{Put: &types.Put{TableName: aws.String(table), Item: item}}
	}
	const writers, writes = 2, 2000
	var done atomic.Bool
	var reads, torn atomic.Int64
	var wg, writing sync.WaitGroup
	for w := range writers {
		writing.Go(func() {
			for n := w * writes; n < (w+1)*writes; n++ {
				if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
					TransactItems: []types.TransactWriteItem{put("a", n), put("b", n)},
				}); err != nil {
					t.Errorf("write %d: %v", n, err)
					return
				}
			}
		})
	}
	wg.Go(func() { writing.Wait(); done.Store(true) })
	for range 6 {
		wg.Go(func() {
			for !done.Load() {
				out, err := db.TransactGetItems(ctx, &dynamodb.TransactGetItemsInput{TransactItems: []types.TransactGetItem{
					{Get: &types.Get{TableName: aws.String(table), Key: key("a")}},
					{Get: &types.Get{TableName: aws.String(table), Key: key("b")}},
				}})
				if err != nil {
					t.Errorf("read: %v", err)
					return
				}
				a, b := out.Responses[0].Item["n"], out.Responses[1].Item["n"]
				if a == nil || b == nil {
					continue // before the first write
				}
				reads.Add(1)
				if a.(*types.AttributeValueMemberN).Value != b.(*types.AttributeValueMemberN).Value {
					torn.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if reads.Load() == 0 {
		t.Fatal("no read overlapped the writes")
	}
	if torn.Load() > 0 {
		t.Fatalf("%d of %d TransactGetItems saw the two items from different transactions", torn.Load(), reads.Load())
	}
}
