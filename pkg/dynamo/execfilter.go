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

// readListing returns up to n copies with sort keys below below, newest
// first, and whether more may follow: one consistent Query per source, sent
// concurrently, merged. A source the engine cut short (its 1 MB page limit)
// bounds the merge: copies of other sources older than its last are left
// for the next read, so nothing is skipped.
func (s *Store) readListing(ctx context.Context, project, flow, below string, n int) ([]listingItem, bool, error) {
	kc := expression.Key(attrSK).Between(expression.Value(skExecListingPrefix), expression.Value(below))
	pks := listingSources(project, flow)
	outs := make([]*dynamodb.QueryOutput, len(pks))
	g, gctx := errgroup.WithContext(ctx)
	for i, pk := range pks {
		g.Go(func() error {
			expr, err := expression.NewBuilder().WithKeyCondition(expression.Key(attrPK).Equal(expression.Value(pk)).And(kc)).Build()
			if err != nil {
				return fmt.Errorf("build listing query: %w", err)
			}
			// n+1 tells whether more follow; one more in case the copy at
			// below itself is returned (BETWEEN is inclusive).
			outs[i], err = s.db.Query(gctx, &dynamodb.QueryInput{
				TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
				ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
				ScanIndexForward: aws.Bool(false), ConsistentRead: aws.Bool(true), Limit: aws.Int32(int32(n + 2)),
			})
			if err != nil {
				return engineError(fmt.Sprintf("list executions of %s", flow), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, false, err
	}
	var copies []listingItem
	horizon, cut := "", false
	for _, out := range outs {
		for _, item := range out.Items {
			var c listingItem
			if err := attributevalue.UnmarshalMap(item, &c); err != nil {
				return nil, false, fmt.Errorf("decode listing copy: %w", err)
			}
			if c.SK != below {
				copies = append(copies, c)
			}
		}
		if last := stringAttr(out.LastEvaluatedKey, attrSK); last != "" && len(out.Items) < n+2 {
			// Cut by size, not by the limit: older copies of this source
			// are unread.
			cut, horizon = true, max(horizon, last)
		}
	}
	slices.SortFunc(copies, func(a, b listingItem) int { return cmp.Compare(b.SK, a.SK) })
	if cut {
		copies = slices.DeleteFunc(copies, func(c listingItem) bool { return c.SK < horizon })
	}
	if len(copies) > n {
		return copies[:n], true, nil
	}
	return copies, cut, nil
}

// executionsOf reads the records the copies list, in their order: one
// consistent BatchGetItem per 100. A copy whose record is gone is skipped.
func (s *Store) executionsOf(ctx context.Context, project, flow string, copies []listingItem) ([]registry.Execution, error) {
	res := make([]registry.Execution, 0, len(copies))
	for chunk := range slices.Chunk(copies, 100) {
		keys := make([]map[string]types.AttributeValue, len(chunk))
		for i, c := range chunk {
			keys[i] = key(execPK(project, c.ExecID), skExec)
		}
		items, err := s.batchGet(ctx, keys)
		if err != nil {
			return nil, fmt.Errorf("list executions of %s: %w", flow, err)
		}
		byID := make(map[string]registry.Execution, len(items))
		for _, item := range items {
			x, err := decodeExec(item)
			if err != nil {
				return nil, err
			}
			byID[x.ExecID] = x.execution()
		}
		for _, c := range chunk {
			if e, ok := byID[c.ExecID]; ok {
				res = append(res, e)
			}
		}
	}
	return res, nil
}
