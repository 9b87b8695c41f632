package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// Filtered listing reads (docs/executions.md): a filtered page reads the
// flow's listing copies newest first, as the plain list does, and keeps
// those that pass, reading at most maxFilteredReads of them per page. A page
// cut by that bound is short and carries a next_token that resumes after the
// last copy read. The filter runs here rather than as a FilterExpression so
// that a Since filter can stop at the first copy started SinceSkew before
// it: exec ids, and so the listing order, follow start times.
const (
	maxFilteredReads = 1000
	filteredChunk    = 200
)

// ListExecutionsBy lists a flow's executions that pass filter, newest first,
// with one query of the flow's partition per filteredChunk copies read.
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
	if filter.IsZero() {
		return s.listExecutions(ctx, flow, pk, start, page)
	}
	stopBefore := filter.Since.Add(-registry.SinceSkew)
	for read := 0; read < maxFilteredReads; {
		out, err := s.queryPrefix(ctx, pk, skExecListingPrefix, filteredChunk, start, false)
		if err != nil {
			return res, engineError(fmt.Sprintf("list executions of %s", flow), err)
		}
		for i, item := range out.Items {
			read++
			e, err := decodeExec(item)
			if err != nil {
				return res, err
			}
			if !filter.Since.IsZero() && e.StartedAt.Before(stopBefore) {
				return res, nil // every later copy started before Since too
			}
			if !filter.Matches(e) {
				continue
			}
			res.Items = append(res.Items, e)
			if len(res.Items) == page.Limit {
				if i < len(out.Items)-1 || len(out.LastEvaluatedKey) > 0 {
					res.NextToken = encodeToken(map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]})
				}
				return res, nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return res, nil
		}
		start = out.LastEvaluatedKey
	}
	res.NextToken = encodeToken(start)
	return res, nil
}
