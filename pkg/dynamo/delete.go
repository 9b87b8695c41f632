package dynamo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/kitaru/deployments/pkg/registry"
)

// DeleteDeployment deletes a version that holds no exclusive tag (I4); the
// shared tags it holds leave with it in the same transaction. The transaction
// requires the flow's route clock and routes revision to be the ones read, so
// a tag change that started or committed meanwhile makes the delete look
// again instead of leaving a tag on a deleted version.
func (s *Store) DeleteDeployment(ctx context.Context, project, flow string, version int, by string) error {
	if err := registry.ValidateFlowName(flow); err != nil {
		return err
	}
	if err := registry.ValidateVersion(version); err != nil {
		return err
	}
	pk := flowPK(project, flow)
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		h, v, err := s.getHeadAndVersion(ctx, pk, version)
		switch {
		case err != nil:
			return fmt.Errorf("delete %s v%d: %w", flow, version, err)
		case !h.hasDeployments():
			return flowNotFound(flow)
		case v == nil:
			return versionNotFound(flow, version)
		}
		if held := h.routes(flow).ExclusiveTagsOf(version); len(held) > 0 {
			return registry.Errorf(registry.CodeConflict, "version %d of flow %q holds exclusive tags %s; move them to another version first (`kitaru flow tag %s %s --version N --exclusive`), then delete", version, flow, strings.Join(held, ", "), flow, held[0]).
				WithDetails("version", version).WithDetails("exclusive_tags", held)
		}
		var shared []string
		for name, e := range h.Tags {
			if !e.X && e.holds(version) {
				shared = append(shared, name)
			}
		}
		slices.Sort(shared)
		now := s.now().UTC()
		hc := newHeadChange(now)
		hc.upd = hc.upd.Set(nameClock, expression.Value(h.Clock+int64(len(shared)))).
			Set(nameCount, nameCount.Minus(expression.Value(1)))
		// Nothing may have been allocated (clock) or committed (routes_rev) since the read.
		hc.require(nameClock.Equal(expression.Value(h.Clock)))
		if h.RoutesRev == 0 {
			hc.require(expression.AttributeNotExists(nameRoutes))
		} else {
			hc.require(nameRoutes.Equal(expression.Value(h.RoutesRev)))
		}
		t := &txn{table: s.table}
		if err := t.delete(key(pk, versionSK(version)), expression.AttributeExists(expression.Name(attrPK))); err != nil {
			return err
		}
		for _, name := range shared {
			if err := hc.removeShared(name, version, h.Tags[name]); err != nil {
				return err
			}
		}
		if err := t.update(key(pk, skHead), hc.upd, hc.condition()); err != nil {
			return err
		}
		for i, name := range shared {
			rec := historyItem{Tag: name, Action: registry.ActionDelete, V: version, Clock: h.Clock + int64(i) + 1}
			if err := s.putHistory(t, project, flow, rec, by, now); err != nil {
				return err
			}
		}
		out, err := s.send(ctx, t)
		if err != nil {
			return fmt.Errorf("delete %s v%d: %w", flow, version, err)
		}
		if out.ok() {
			return nil
		}
		if err := backoff(ctx, attempt); err != nil {
			return err
		}
	}
	return errContended
}
