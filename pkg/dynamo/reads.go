package dynamo

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/kitaru/deployments/pkg/registry"
)

// Resolve reads with consistent reads: by version one BatchGetItem (head and
// version), by tag the head then the version. Neither depends on how many
// versions the flow has (I7).
func (s *Store) Resolve(ctx context.Context, project, flow string, sel registry.Selector) (registry.Resolution, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Resolution{}, err
	}
	if err := sel.Normalize(); err != nil {
		return registry.Resolution{}, err
	}
	pk := flowPK(project, flow)
	if sel.Version != 0 {
		d, err := s.GetDeployment(ctx, project, flow, sel.Version)
		return registry.Resolution{Selector: sel, Deployment: d}, err
	}
	h, err := s.getHead(ctx, pk)
	if err != nil {
		return registry.Resolution{}, err
	}
	routes := h.routes(flow)
	version, err := routes.Resolve(flow, sel, h.hasDeployments())
	if err != nil {
		return registry.Resolution{}, err
	}
	d, err := s.ReadVersion(ctx, project, flow, version)
	if err != nil {
		return registry.Resolution{}, err
	}
	d.Tags = routes.TagsOf(version)
	route := routes[sel.Tag]
	return registry.Resolution{Selector: sel, Deployment: d, Route: &route}, nil
}

// GetDeployment reads one version and its tags in one round trip.
func (s *Store) GetDeployment(ctx context.Context, project, flow string, version int) (registry.Deployment, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Deployment{}, err
	}
	if err := registry.ValidateVersion(version); err != nil {
		return registry.Deployment{}, err
	}
	h, v, err := s.getHeadAndVersion(ctx, flowPK(project, flow), version, false)
	switch {
	case err != nil:
		return registry.Deployment{}, err
	case !h.hasDeployments():
		return registry.Deployment{}, registry.FlowNotFound(flow)
	case v == nil:
		return registry.Deployment{}, registry.VersionNotFound(flow, version)
	}
	return v.deployment(h.routes(flow)), nil
}

// ListDeployments pages through versions newest first; the head (for tags)
// is read concurrently.
func (s *Store) ListDeployments(ctx context.Context, project, flow string, page registry.PageRequest) (registry.Page[registry.Deployment], error) {
	var res registry.Page[registry.Deployment]
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	if err := page.Normalize(); err != nil {
		return res, err
	}
	pk := flowPK(project, flow)
	start, err := decodeToken(page.Token, attrPK, pk, attrSK, skVersionPrefix)
	if err != nil {
		return res, err
	}
	var h head
	var items []map[string]types.AttributeValue
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { h, err = s.getHead(gctx, pk); return err })
	g.Go(func() (err error) {
		items, res.NextToken, err = s.queryPage(gctx, pk, skVersionPrefix, page.Limit, start, false)
		return err
	})
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("list deployments of %s: %w", flow, err)
	}
	if !h.hasDeployments() {
		return res, registry.FlowNotFound(flow)
	}
	routes := h.routes(flow)
	items = items[:min(len(items), page.Limit)]
	res.Items = make([]registry.Deployment, 0, len(items))
	for _, item := range items {
		v, err := decodeVersion(item)
		if err != nil {
			return res, err
		}
		res.Items = append(res.Items, v.deployment(routes))
	}
	return res, nil
}

// queryPage reads up to limit+1 items of a prefix: the extra one only tells
// whether another page follows (DynamoDB hands out a LastEvaluatedKey also
// when a page ends exactly at the last item). next is empty on the last page.
func (s *Store) queryPage(ctx context.Context, pk, prefix string, limit int, start map[string]types.AttributeValue, forward bool) ([]map[string]types.AttributeValue, string, error) {
	out, err := s.queryPrefix(ctx, pk, prefix, int32(limit+1), start, forward)
	if err != nil {
		return nil, "", err
	}
	switch {
	case len(out.Items) > limit:
		last := out.Items[limit-1]
		return out.Items, encodeToken(map[string]types.AttributeValue{attrPK: last[attrPK], attrSK: last[attrSK]}), nil
	default:
		// Fewer items and a LastEvaluatedKey: the engine cut the page by size.
		return out.Items, encodeToken(out.LastEvaluatedKey), nil
	}
}

// queryPrefix reads one page of a partition's items with a sort-key prefix,
// consistently; newest (highest key) first unless forward.
func (s *Store) queryPrefix(ctx context.Context, pk, prefix string, limit int32, start map[string]types.AttributeValue, forward bool) (*dynamodb.QueryOutput, error) {
	kc := expression.Key(attrPK).Equal(expression.Value(pk)).And(expression.Key(attrSK).BeginsWith(prefix))
	expr, err := expression.NewBuilder().WithKeyCondition(kc).Build()
	if err != nil {
		return nil, fmt.Errorf("build query: %w", err)
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		ScanIndexForward: aws.Bool(forward), ConsistentRead: aws.Bool(true),
		Limit: aws.Int32(limit), ExclusiveStartKey: start,
	})
	if err != nil {
		return nil, engineError("query "+prefix, err)
	}
	return out, nil
}

// GetFlow reads the flow head: one consistent GetItem. The head carries
// everything the summary shows (see docs/data-model.md).
func (s *Store) GetFlow(ctx context.Context, project, flow string) (registry.FlowSummary, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.FlowSummary{}, err
	}
	pk := flowPK(project, flow)
	h, err := s.getHead(ctx, pk)
	if err != nil {
		return registry.FlowSummary{}, fmt.Errorf("read flow %s: %w", flow, err)
	}
	if !h.hasDeployments() {
		return registry.FlowSummary{}, registry.FlowNotFound(flow)
	}
	latest, err := s.latestOf(ctx, pk, h)
	if err != nil {
		return registry.FlowSummary{}, fmt.Errorf("read flow %s: %w", flow, err)
	}
	return summary(project, flow, h, latest), nil
}

func summary(project, flow string, h head, latest int) registry.FlowSummary {
	fs := registry.FlowSummary{
		Project: project, Flow: flow, DeploymentCount: h.Count, LatestVersion: latest,
		Tags: map[string][]int{}, ExclusiveTags: []string{}, CreatedAt: h.CreatedAt, UpdatedAt: h.UpdatedAt,
	}
	for name, t := range h.routes(flow) {
		fs.Tags[name] = t.Versions
		if t.Exclusive {
			fs.ExclusiveTags = append(fs.ExclusiveTags, name)
		}
		if t.Split != nil {
			if fs.Splits == nil {
				fs.Splits = map[string]registry.Split{}
			}
			fs.Splits[name] = t.Split
		}
		if name == registry.DefaultTag {
			v := t.Versions[0]
			if t.Split != nil {
				v = t.Split.Heaviest()
			}
			fs.DefaultVersion = &v
		}
	}
	slices.Sort(fs.ExclusiveTags)
	return fs
}

// maxFlowsPerPage is the most flows one page of ListFlows holds, whatever
// limit asks for: BatchGetItem reads at most 100 items per request, and a
// page is one query plus one batch read.
const maxFlowsPerPage = 100

// ListFlows is two round trips per page: one query of the project's flow
// index (one item per flow, written by the flow's first deploy), then one
// consistent BatchGetItem of those flows' heads, which carry their
// summaries. Flows whose first deploy never committed are skipped, so a
// page may hold fewer than limit flows; it holds at most maxFlowsPerPage.
func (s *Store) ListFlows(ctx context.Context, project string, page registry.PageRequest) (registry.Page[registry.FlowSummary], error) {
	var res registry.Page[registry.FlowSummary]
	if err := page.Normalize(); err != nil {
		return res, err
	}
	limit := min(page.Limit, maxFlowsPerPage)
	ipk := flowIndexPK(project)
	start, err := decodeToken(page.Token, attrPK, ipk, attrSK, skFlowPrefix)
	if err != nil {
		return res, err
	}
	index, next, err := s.queryPage(ctx, ipk, skFlowPrefix, limit, start, true)
	if err != nil {
		return res, fmt.Errorf("list flows: %w", err)
	}
	index = index[:min(len(index), limit)]
	keys := make([]map[string]types.AttributeValue, len(index))
	for i, item := range index {
		keys[i] = key(flowPK(project, stringAttr(item, "flow")), skHead)
	}
	heads, err := s.batchGet(ctx, keys)
	if err != nil {
		return res, fmt.Errorf("list flows: %w", err)
	}
	byFlow := map[string]head{}
	for _, item := range heads {
		h, err := decodeHead(item)
		if err != nil {
			return res, err
		}
		byFlow[stringAttr(item, "flow")] = h
	}
	res.Items = make([]registry.FlowSummary, 0, len(index))
	for _, item := range index {
		flow := stringAttr(item, "flow")
		if h, ok := byFlow[flow]; ok && h.hasDeployments() {
			latest, err := s.latestOf(ctx, flowPK(project, flow), h)
			if err != nil {
				return res, fmt.Errorf("list flows: %w", err)
			}
			res.Items = append(res.Items, summary(project, flow, h, latest))
		}
	}
	res.NextToken = next
	return res, nil
}

// batchGet reads up to 100 items with consistent reads in one round trip,
// more only when the engine leaves keys unprocessed (then after a backoff).
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	for attempt := 0; len(keys) > 0; attempt++ {
		if attempt > 0 {
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
			s.table: {Keys: keys, ConsistentRead: aws.Bool(true)},
		}})
		if err != nil {
			return nil, engineError("batch read", err)
		}
		items = append(items, out.Responses[s.table]...)
		keys = out.UnprocessedKeys[s.table].Keys
	}
	return items, nil
}

func stringAttr(item map[string]types.AttributeValue, name string) string {
	if s, ok := item[name].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// TagHistory pages through a tag's changes newest first. It reads one record
// beyond the page so the last change's "from" is known.
func (s *Store) TagHistory(ctx context.Context, project, flow, tag string, page registry.PageRequest) (registry.Page[registry.RouteChange], error) {
	var res registry.Page[registry.RouteChange]
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	if err := registry.ValidateTagName(tag); err != nil {
		return res, err
	}
	if err := page.Normalize(); err != nil {
		return res, err
	}
	pk := flowPK(project, flow)
	start, err := decodeToken(page.Token, attrPK, pk, attrSK, historyPrefix(tag))
	if err != nil {
		return res, err
	}
	items, next, err := s.queryPage(ctx, pk, historyPrefix(tag), page.Limit, start, false)
	if err != nil {
		return res, fmt.Errorf("read history of tag %s: %w", tag, err)
	}
	records, err := decodeHistories(items)
	if err != nil {
		return res, err
	}
	if len(records) == 0 && start == nil {
		h, err := s.getHead(ctx, pk)
		if err != nil {
			return res, err
		}
		if !h.hasDeployments() {
			return res, registry.FlowNotFound(flow)
		}
	}
	n := min(len(records), page.Limit)
	res.Items = make([]registry.RouteChange, n)
	for i := range n {
		var older *historyItem // the record after the page still tells the last change's "from"
		if i+1 < len(records) {
			older = &records[i+1]
		}
		res.Items[i] = records[i].change(older)
	}
	res.NextToken = next
	return res, nil
}

// queryHistory reads the newest limit records of a tag.
func (s *Store) queryHistory(ctx context.Context, pk, tag string, limit int) ([]historyItem, error) {
	out, err := s.queryPrefix(ctx, pk, historyPrefix(tag), int32(limit), nil, false)
	if err != nil {
		return nil, fmt.Errorf("read history of tag %s: %w", tag, err)
	}
	return decodeHistories(out.Items)
}

func decodeHistories(items []map[string]types.AttributeValue) ([]historyItem, error) {
	records := make([]historyItem, 0, len(items))
	for _, item := range items {
		r, err := decodeHistory(item)
		if err != nil {
			return nil, err
		}
		records = append(records, r)
	}
	return records, nil
}
