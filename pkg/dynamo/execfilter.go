package dynamo

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/kitaru/deployments/pkg/registry"
)

// Listing reads (docs/data-model.md, "Executions"; docs/executions.md). A
// flow's listing copies are spread over listingShards partitions, plus the
// flow's own partition for copies earlier builds wrote there; a page queries
// them all at once and merges them newest first by sort key (exec ids are
// time-sortable ULIDs and unique, so the merged order is the flow's). The
// page token is the last copy's key under the flow's partition, as before
// sharding: it stays bound to the flow and project, and a token an earlier
// build handed out still works.
//
// A filtered page reads copies newest first, as the plain list does, and
// keeps those that pass, reading at most maxFilteredReads of them per page.
// A page cut by that bound is short and carries a next_token that resumes
// after the last copy read. The filter runs here rather than as a
// FilterExpression so that a Since filter can stop at the first copy started
// SinceSkew before it: exec ids, and so the listing order, follow start
// times. The answer's executions are read from their records (one batch read
// per page), which hold the documents the copies leave out.
const (
	maxFilteredReads = 1000
	filteredChunk    = 200
)

// ListExecutionsBy lists a flow's executions that pass filter, newest first,
// with one round of concurrent shard queries per filteredChunk copies read
// (per page without a filter) and one batch read of the page's records.
func (s *Store) ListExecutionsBy(ctx context.Context, project, flow string, filter registry.ExecutionFilter, page registry.PageRequest) (registry.Page[registry.Execution], error) {
	res := registry.Page[registry.Execution]{Items: []registry.Execution{}}
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	if err := filter.Validate(); err != nil {
		return res, err
	}
	if err := page.Normalize(); err != nil {
		return res, err
	}
	pk := flowPK(project, flow)
	start, err := decodeToken(page.Token, attrPK, pk, attrSK, skExecListingPrefix)
	if err != nil {
		return res, err
	}
	below := skListingEnd
	if start != nil {
		below = stringAttr(start, attrSK)
	}
	var kept []listingItem
	if filter.IsZero() {
		copies, more, err := s.readListing(ctx, project, flow, below, page.Limit)
		if err != nil {
			return res, err
		}
		kept = copies
		if more && len(copies) > 0 {
			res.NextToken = listingToken(pk, copies[len(copies)-1].SK)
		}
	} else {
		kept, res.NextToken, err = s.filterListing(ctx, project, flow, below, filter, page.Limit)
		if err != nil {
			return res, err
		}
	}
	if res.Items, err = s.executionsOf(ctx, project, flow, kept); err != nil {
		return res, err
	}
	return res, nil
}

// filterListing reads copies below the sort key below, newest first, until
// limit pass filter, maxFilteredReads were read, or a Since filter is passed.
func (s *Store) filterListing(ctx context.Context, project, flow, below string, filter registry.ExecutionFilter, limit int) (kept []listingItem, next string, err error) {
	pk := flowPK(project, flow)
	stopBefore := filter.Since.Add(-registry.SinceSkew)
	for read := 0; read < maxFilteredReads; {
		copies, more, err := s.readListing(ctx, project, flow, below, filteredChunk)
		if err != nil {
			return nil, "", err
		}
		for i, c := range copies {
			read++
			if !filter.Since.IsZero() && c.StartedAt.Before(stopBefore) {
				return kept, "", nil // every later copy started before Since too
			}
			if !c.matches(filter) {
				continue
			}
			kept = append(kept, c)
			if len(kept) == limit {
				if i < len(copies)-1 || more {
					next = listingToken(pk, c.SK)
				}
				return kept, next, nil
			}
		}
		if !more || len(copies) == 0 {
			return kept, "", nil
		}
		below = copies[len(copies)-1].SK
	}
	return kept, listingToken(pk, below), nil
}

func listingToken(pk, sk string) string { return encodeToken(key(pk, sk)) }

// listingSources are the partitions that hold a flow's listing copies: its
// shards, and its own partition for the copies of builds before sharding.
func listingSources(project, flow string) []string {
	pks := make([]string, 0, listingShards+1)
	for shard := range uint32(listingShards) {
		pks = append(pks, listingPK(project, flow, shard))
	}
	return append(pks, flowPK(project, flow))
}

// listingSource is one partition's part of a listing read: the copies read
// so far, newest first, and where its next query starts (nil once it is
// read to the end).
type listingSource struct {
	pk     string
	copies []listingItem
	next   map[string]types.AttributeValue
}

// readListing returns up to n copies with sort keys below below, newest
// first, and whether more may follow. Each source is queried concurrently
// for about three times its fair share of n (exec ids hash evenly over the
// shards): one round trip of listingShards+1 queries that reads few copies
// beyond the page. A source that stopped early (at that limit, or at
// DynamoDB's 1 MB page) bounds the merge: copies of other sources older than
// its last one are not yet known to be next. When fewer than n+1 copies are
// above that bound, the sources that stopped are read further, with limit
// n+2, until they are.
func (s *Store) readListing(ctx context.Context, project, flow, below string, n int) ([]listingItem, bool, error) {
	kc := expression.Key(attrSK).Between(expression.Value(skExecListingPrefix), expression.Value(below))
	var sources []*listingSource
	for _, pk := range listingSources(project, flow) {
		sources = append(sources, &listingSource{pk: pk})
	}
	pending, limit := sources, min(n+2, 3*n/listingShards+3)
	for {
		if err := s.queryListingSources(ctx, flow, kc, pending, int32(limit)); err != nil {
			return nil, false, err
		}
		var copies []listingItem
		horizon := ""
		pending = nil
		for _, src := range sources {
			for _, c := range src.copies {
				if c.SK != below { // BETWEEN includes the position itself
					copies = append(copies, c)
				}
			}
			if src.next != nil {
				pending = append(pending, src)
				horizon = max(horizon, stringAttr(src.next, attrSK))
			}
		}
		slices.SortFunc(copies, func(a, b listingItem) int { return cmp.Compare(b.SK, a.SK) })
		copies = slices.DeleteFunc(copies, func(c listingItem) bool { return c.SK < horizon })
		if len(copies) > n {
			return copies[:n], true, nil
		}
		if len(pending) == 0 {
			return copies, false, nil
		}
		limit = n + 2
	}
}

// queryListingSources reads the next page of each source, concurrently, and
// appends what it finds.
func (s *Store) queryListingSources(ctx context.Context, flow string, kc expression.KeyConditionBuilder, sources []*listingSource, limit int32) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, src := range sources {
		g.Go(func() error {
			expr, err := expression.NewBuilder().WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(src.pk)).And(kc)).Build()
			if err != nil {
				return fmt.Errorf("build listing query: %w", err)
			}
			out, err := s.db.Query(gctx, &dynamodb.QueryInput{
				TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
				ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
				ScanIndexForward: aws.Bool(false), ConsistentRead: aws.Bool(true), Limit: aws.Int32(limit),
				ExclusiveStartKey: src.next,
			})
			if err != nil {
				return engineError(fmt.Sprintf("list executions of %s", flow), err)
			}
			for _, item := range out.Items {
				var c listingItem
				if err := attributevalue.UnmarshalMap(item, &c); err != nil {
					return fmt.Errorf("decode listing copy: %w", err)
				}
				c.item = item
				src.copies = append(src.copies, c)
			}
			src.next = out.LastEvaluatedKey
			if len(src.next) == 0 {
				src.next = nil
			}
			return nil
		})
	}
	return g.Wait()
}

// executionsOf returns the executions the copies list, in their order:
// complete copies answer themselves; the others' records are read with one
// consistent BatchGetItem per 100. A copy whose record is gone is skipped.
func (s *Store) executionsOf(ctx context.Context, project, flow string, copies []listingItem) ([]registry.Execution, error) {
	byID := make(map[string]registry.Execution, len(copies))
	var keys []map[string]types.AttributeValue
	for _, c := range copies {
		if !c.Complete {
			keys = append(keys, key(execPK(project, c.ExecID), skExec))
			continue
		}
		x, err := decodeExec(c.item)
		if err != nil {
			return nil, err
		}
		byID[c.ExecID] = x.execution()
	}
	for chunk := range slices.Chunk(keys, 100) {
		items, err := s.batchGet(ctx, chunk)
		if err != nil {
			return nil, fmt.Errorf("list executions of %s: %w", flow, err)
		}
		for _, item := range items {
			x, err := decodeExec(item)
			if err != nil {
				return nil, err
			}
			byID[x.ExecID] = x.execution()
		}
	}
	res := make([]registry.Execution, 0, len(copies))
	for _, c := range copies {
		if e, ok := byID[c.ExecID]; ok {
			res = append(res, e)
		}
	}
	return res, nil
}
