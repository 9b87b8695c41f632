package routecache_test

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/registry/storetest"
	"github.com/kitaru/deployments/pkg/routecache"
)

// cachedStore is a table whose registry reads and writes go through a
// route cache with a bound far longer than any case: within one process the
// cache must be indistinguishable from the store.
type cachedStore struct {
	*dynamo.Store
	cache *routecache.Cache
}

func (s cachedStore) Resolve(ctx context.Context, project, flow string, sel registry.Selector) (registry.Resolution, error) {
	return s.cache.Resolve(ctx, project, flow, sel)
}
func (s cachedStore) Deploy(ctx context.Context, req registry.DeployRequest) (registry.Deployment, error) {
	return s.cache.Deploy(ctx, req)
}
func (s cachedStore) DeleteDeployment(ctx context.Context, project, flow string, version int, by string) error {
	return s.cache.DeleteDeployment(ctx, project, flow, version, by)
}
func (s cachedStore) DeleteFlow(ctx context.Context, project, flow string, force bool, by string) (registry.FlowDeletion, error) {
	return s.cache.DeleteFlow(ctx, project, flow, force, by)
}
func (s cachedStore) PutTag(ctx context.Context, req registry.TagRequest) (registry.Tag, error) {
	return s.cache.PutTag(ctx, req)
}
func (s cachedStore) RemoveTag(ctx context.Context, req registry.TagRequest) error {
	return s.cache.RemoveTag(ctx, req)
}
func (s cachedStore) RollbackTag(ctx context.Context, project, flow, tag, by string) (registry.Tag, error) {
	return s.cache.RollbackTag(ctx, project, flow, tag, by)
}

// TestConformanceThroughTheCache runs the store conformance suite on
// minidyn through a route cache (round-trip budgets aside: the cache
// changes them on purpose).
func TestConformanceThroughTheCache(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite takes minutes")
	}
	tables := map[*dynamo.Store]dynamotest.Table{}
	storetest.Run(t, storetest.Engine{
		Name: "minidyn through a route cache",
		Open: func(t testing.TB, now func() time.Time) storetest.Store {
			tbl := dynamotest.New(t)
			var opts []dynamo.Option
			if now != nil {
				opts = append(opts, dynamo.WithClock(now))
			}
			store := dynamo.New(tbl.DB, tbl.Name, opts...)
			tables[store] = tbl
			return cachedStore{Store: store, cache: routecache.New(store, routecache.Config{Bound: time.Hour})}
		},
		// The flow head as stored: what every route change writes.
		FlowState: func(t testing.TB, s storetest.Store, project, flow string) string {
			tbl := tables[s.(cachedStore).Store]
			out, err := tbl.DB.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(tbl.Name), ConsistentRead: aws.Bool(true),
				Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "P#" + project + "#F#" + flow}, "SK": &types.AttributeValueMemberS{Value: "FLOW"}}})
			if err != nil {
				t.Fatal(err)
			}
			var item map[string]any
			if err := attributevalue.UnmarshalMap(out.Item, &item); err != nil {
				t.Fatal(err)
			}
			state, err := json.Marshal(item)
			if err != nil {
				t.Fatal(err)
			}
			return string(state)
		},
		// The head's allocation counters, which a change refused only at
		// commit advances (as for the store alone, pkg/dynamo).
		Counters:  regexp.MustCompile(`"(clock|tick)":("[^"]*"|[0-9]+)`),
		TagCycles: 500,
	})
}
