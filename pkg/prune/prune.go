// Package prune deletes the versions of a flow that nothing needs any more
// and then the source bundles nothing uses any more (docs/prune.md).
//
// Every delete goes through the store's own version delete, which keeps the
// invariants (numbers are never reused, a routed version is never deleted)
// whatever changed since the plan was read: a refusal there means the
// version became routed, and it is reported as kept, not as an error.
package prune

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Store is what a prune reads and writes in the registry table; the
// DynamoDB and SQLite stores are both one.
type Store interface {
	ListFlows(ctx context.Context, project string, page registry.PageRequest) (registry.Page[registry.FlowSummary], error)
	ListDeployments(ctx context.Context, project, flow string, page registry.PageRequest) (registry.Page[registry.Deployment], error)
	ListExecutionsBy(ctx context.Context, project, flow string, filter registry.ExecutionFilter, page registry.PageRequest) (registry.Page[registry.Execution], error)
	registry.UnroutedDeleter
	registry.BundleGuard
}

// Bundles deletes stored source bundles; artifacts.Store is one.
type Bundles interface {
	// DeleteBundle removes a project's bundle; one already gone is no error.
	DeleteBundle(ctx context.Context, project, digest string) error
}

// DefaultCollectionTime bounds a bundle collection when the request's
// context has no deadline: the guard refuses deploys of that bundle until
// then (plus registry.SinceSkew) should the prune die before it ends.
const DefaultCollectionTime = 5 * time.Minute

// Pruner prunes flows.
type Pruner struct {
	Store   Store
	Bundles Bundles
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// NewToken names one collection of a bundle; nil is 16 random bytes.
	NewToken func() string
}

// Prune deletes project's flow's versions that req allows and then the
// bundles only they used, and reports every version and bundle with what
// happened to it. A dry run reads the same and deletes nothing.
// Errors: invalid_argument, not_found (no flow), unavailable; versions
// deleted before an error stay deleted (a prune sent again goes on).
func (p *Pruner) Prune(ctx context.Context, project, flow string, req registry.PruneRequest, by string) (registry.Pruning, error) {
	res := registry.Pruning{Project: project, Flow: flow, DryRun: req.DryRun, Keep: req.Keep,
		Deleted: []registry.PrunedVersion{}, Kept: []registry.KeptVersion{}, Bundles: []registry.PrunedBundle{}}
	if req.OlderThan > 0 {
		res.OlderThan = registry.FormatAge(req.OlderThan)
	}
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	if err := req.Validate(); err != nil {
		return res, err
	}
	started := p.now()
	versions, err := p.versions(ctx, project, flow)
	if err != nil {
		return res, err
	}
	running, err := p.running(ctx, project, flow)
	if err != nil {
		return res, err
	}
	var doomed []registry.Deployment
	for i, d := range versions { // newest first
		if kept, ok := keep(d, i, req, started, running); ok {
			res.Kept = append(res.Kept, kept)
		} else {
			doomed = append(doomed, d)
		}
	}
	slices.Reverse(doomed) // oldest first: a prune cut short has removed the oldest
	for _, d := range doomed {
		if !req.DryRun {
			gone, kept, err := p.delete(ctx, project, flow, d, by)
			if err != nil {
				return res, err
			}
			if !gone {
				if kept.Version != 0 {
					res.Kept = append(res.Kept, kept)
				}
				continue
			}
		}
		res.Deleted = append(res.Deleted, pruned(d))
	}
	if !req.DryRun && len(res.Deleted) > 0 {
		if err := p.noteLateStarts(ctx, project, flow, started, &res); err != nil {
			return res, err
		}
	}
	if res.Bundles, err = p.collect(ctx, project, flow, res.Deleted, req.DryRun); err != nil {
		return res, err
	}
	slices.SortFunc(res.Kept, func(a, b registry.KeptVersion) int { return a.Version - b.Version })
	return res, nil
}

// keep decides whether the i-th newest version d stays, and why: the first
// rule that spares it, in the order of the registry.Kept* reasons.
func keep(d registry.Deployment, i int, req registry.PruneRequest, now time.Time, running map[int]string) (registry.KeptVersion, bool) {
	k := registry.KeptVersion{Version: d.Version, CreatedAt: d.CreatedAt}
	switch {
	case len(d.Tags) > 0:
		k.Reason = registry.KeptRouted
		for name := range d.Tags {
			k.Tags = append(k.Tags, name)
		}
		slices.Sort(k.Tags)
	case i < req.Keep:
		k.Reason = registry.KeptNewest
	case req.OlderThan > 0 && d.CreatedAt.After(now.Add(-req.OlderThan)):
		k.Reason = registry.KeptTooYoung
	case running[d.Version] != "":
		k.Reason, k.Running = registry.KeptRunning, running[d.Version]
	default:
		return k, false
	}
	return k, true
}

// delete deletes one version unless a tag routes to it by now: then it is
// kept as routed. A version deleted meanwhile by someone else is neither.
func (p *Pruner) delete(ctx context.Context, project, flow string, d registry.Deployment, by string) (gone bool, kept registry.KeptVersion, err error) {
	err = p.Store.DeleteUnroutedDeployment(ctx, project, flow, d.Version, by)
	var re *registry.Error
	switch {
	case err == nil:
		return true, kept, nil
	case !errors.As(err, &re):
		return false, kept, fmt.Errorf("prune %s v%d: %w", flow, d.Version, err)
	case re.Code == registry.CodeNotFound:
		return false, kept, nil
	case re.Details[registry.DetailReason] == registry.ReasonHoldsExclusiveTags || re.Details[registry.DetailReason] == registry.ReasonVersionRouted:
		kept = registry.KeptVersion{Version: d.Version, CreatedAt: d.CreatedAt, Reason: registry.KeptRouted}
		for _, key := range []string{"exclusive_tags", "tags"} {
			if tags, ok := re.Details[key].([]string); ok {
				kept.Tags = append(kept.Tags, tags...)
			}
		}
		return false, kept, nil
	default:
		return false, kept, fmt.Errorf("prune %s v%d: %w", flow, d.Version, err)
	}
}

// noteLateStarts finds executions of deleted versions recorded since the
// prune began (an invoke that resolved the version before its delete):
// they keep their bundles. Exec ids follow start times, so the listing
// reads back to a SinceSkew (two, for the invoking server's clock) before
// the prune began.
func (p *Pruner) noteLateStarts(ctx context.Context, project, flow string, since time.Time, res *registry.Pruning) error {
	filter := registry.ExecutionFilter{Status: registry.StatusRunning, Since: since.Add(-registry.SinceSkew)}
	deleted := map[int]*registry.PrunedVersion{}
	for i := range res.Deleted {
		deleted[res.Deleted[i].Version] = &res.Deleted[i]
	}
	return p.eachExecution(ctx, project, flow, filter, func(e registry.Execution) {
		if v := deleted[e.Version]; v != nil {
			v.StartedExecutions = append(v.StartedExecutions, e.ExecID)
		}
	})
}

// collect deletes the bundles of the deleted versions that no version of
// the project uses any more. Each is first marked as being collected
// (refused while a deploy holds a lease on it, and refusing deploys from
// then on), and only then is the project read for versions using it, so a
// deploy either committed before the read and is seen, or is refused.
func (p *Pruner) collect(ctx context.Context, project, flow string, deleted []registry.PrunedVersion, dry bool) ([]registry.PrunedBundle, error) {
	bundles := []registry.PrunedBundle{}
	inUse := map[string]bool{}
	var digests []string
	for _, v := range deleted {
		if v.Digest == "" {
			continue
		}
		if !slices.Contains(digests, v.Digest) {
			digests = append(digests, v.Digest)
		}
		if len(v.StartedExecutions) > 0 {
			inUse[v.Digest] = true
		}
	}
	slices.Sort(digests)
	if len(digests) == 0 {
		return bundles, nil
	}
	token := p.token()
	until := p.now().Add(DefaultCollectionTime)
	if dl, ok := ctx.Deadline(); ok {
		until = dl
	}
	until = until.Add(registry.SinceSkew)
	var marked []string
	defer func() {
		// Ended on a context of its own, so a cancelled prune still ends
		// its collections (they would otherwise refuse deploys until `until`).
		end, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, d := range marked {
			_ = p.Store.EndBundleCollection(end, project, d, token) // expires at until otherwise
		}
	}()
	var candidates []string
	for _, d := range digests {
		if inUse[d] {
			continue
		}
		if !dry {
			started, err := p.Store.StartBundleCollection(ctx, project, d, token, until)
			if err != nil {
				return bundles, fmt.Errorf("collect bundle %s: %w", d, err)
			}
			if !started {
				inUse[d] = true
				continue
			}
			marked = append(marked, d)
		}
		candidates = append(candidates, d)
	}
	gone := map[string]bool{} // deleted, or in a dry run about to be
	for _, v := range deleted {
		gone[fmt.Sprintf("%s:%d", flow, v.Version)] = true
	}
	users, err := p.usersOf(ctx, project, candidates, gone)
	if err != nil {
		return bundles, err
	}
	for _, d := range digests {
		b := registry.PrunedBundle{Digest: d}
		switch {
		case inUse[d]:
			b.Reason = registry.BundleInUse
		case users[d] != "":
			b.Reason, b.UsedBy = registry.BundleShared, users[d]
		default:
			b.Deleted = true
			if !dry {
				if err := p.Bundles.DeleteBundle(ctx, project, d); err != nil {
					return bundles, fmt.Errorf("collect bundle %s: %w", d, err)
				}
			}
		}
		bundles = append(bundles, b)
	}
	return bundles, nil
}

// usersOf reads every version of every flow in the project and names, for
// each of digests, one version that uses it (flow:version), leaving out
// the versions in gone. Its cost is
// one query per page of flows and one per page of each flow's versions
// (docs/prune.md measures it); it runs only when a prune deleted versions
// with bundles.
func (p *Pruner) usersOf(ctx context.Context, project string, digests []string, gone map[string]bool) (map[string]string, error) {
	users := map[string]string{}
	if len(digests) == 0 {
		return users, nil
	}
	page := registry.PageRequest{Limit: registry.MaxPageSize}
	for {
		flows, err := p.Store.ListFlows(ctx, project, page)
		if err != nil {
			return nil, fmt.Errorf("find versions using bundles: %w", err)
		}
		for _, f := range flows.Items {
			err := p.eachVersion(ctx, project, f.Flow, func(d registry.Deployment) {
				name := fmt.Sprintf("%s:%d", d.Flow, d.Version)
				if d.Source != nil && slices.Contains(digests, d.Source.Digest) && users[d.Source.Digest] == "" && !gone[name] {
					users[d.Source.Digest] = name
				}
			})
			if registry.CodeOf(err) == registry.CodeNotFound {
				continue // deleted since it was listed
			}
			if err != nil {
				return nil, fmt.Errorf("find versions using bundles: %w", err)
			}
		}
		if flows.NextToken == "" {
			return users, nil
		}
		page.Token = flows.NextToken
	}
}

// versions lists every version of the flow, newest first.
func (p *Pruner) versions(ctx context.Context, project, flow string) ([]registry.Deployment, error) {
	var all []registry.Deployment
	err := p.eachVersion(ctx, project, flow, func(d registry.Deployment) { all = append(all, d) })
	return all, err
}

func (p *Pruner) eachVersion(ctx context.Context, project, flow string, fn func(registry.Deployment)) error {
	page := registry.PageRequest{Limit: registry.MaxPageSize}
	for {
		got, err := p.Store.ListDeployments(ctx, project, flow, page)
		if err != nil {
			return fmt.Errorf("list versions of %s: %w", flow, err)
		}
		for _, d := range got.Items {
			fn(d)
		}
		if got.NextToken == "" {
			return nil
		}
		page.Token = got.NextToken
	}
}

// running maps each version with a running execution to one of them.
func (p *Pruner) running(ctx context.Context, project, flow string) (map[int]string, error) {
	found := map[int]string{}
	err := p.eachExecution(ctx, project, flow, registry.ExecutionFilter{Status: registry.StatusRunning}, func(e registry.Execution) {
		if found[e.Version] == "" {
			found[e.Version] = e.ExecID
		}
	})
	return found, err
}

func (p *Pruner) eachExecution(ctx context.Context, project, flow string, filter registry.ExecutionFilter, fn func(registry.Execution)) error {
	page := registry.PageRequest{Limit: registry.MaxPageSize}
	for {
		got, err := p.Store.ListExecutionsBy(ctx, project, flow, filter, page)
		if err != nil {
			return fmt.Errorf("list running executions of %s: %w", flow, err)
		}
		for _, e := range got.Items {
			fn(e)
		}
		if got.NextToken == "" {
			return nil
		}
		page.Token = got.NextToken
	}
}

func pruned(d registry.Deployment) registry.PrunedVersion {
	v := registry.PrunedVersion{Version: d.Version, CreatedAt: d.CreatedAt}
	if d.Source != nil {
		v.Digest = d.Source.Digest
	}
	return v
}

func (p *Pruner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pruner) token() string {
	if p.NewToken != nil {
		return p.NewToken()
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
