// Package routecache keeps a flow's routes and its deployments in process
// memory, so that a hot flow's invokes by tag stop reading the flow head
// (one DynamoDB item, one partition) on every call. A route is served for
// at most a bound B after it was read, never longer, and never when the
// caller presents a route revision newer than it (read-your-writes for
// whoever moved the tag). Deployments are immutable and their numbers are
// never reused, so they are kept without a time bound, by count.
// docs/route-cache.md describes the guarantees and failure modes.
package routecache

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/kitaru/deployments/pkg/registry"
)

// DefaultBound is how long a route read is served when none is configured.
const DefaultBound = time.Second

// DefaultMaxFlows and DefaultMaxVersions bound the entries kept, and
// DefaultMaxVersionBytes the deployments' approximate size (their inputs
// reach 256 KiB each); the least recently used go first.
const (
	DefaultMaxFlows        = 4096
	DefaultMaxVersions     = 4096
	DefaultMaxVersionBytes = 64 << 20
)

// RouteReader reads the two halves of a resolve by tag separately, so each
// can be cached on its own terms; dynamo.Store is one.
type RouteReader interface {
	// ReadRoutes reads a flow's routing table consistently.
	// Errors: not_found (no flow), unavailable.
	ReadRoutes(ctx context.Context, project, flow string) (registry.Routes, error)
	// ReadVersion reads one deployment without its tags, consistently.
	// Errors: not_found, unavailable.
	ReadVersion(ctx context.Context, project, flow string, version int) (registry.Deployment, error)
}

// Backend is a store the cache can decorate.
type Backend interface {
	registry.Store
	RouteReader
}

// Config configures a Cache.
type Config struct {
	// Bound is the longest a route read is served (B); 0 disables caching
	// (every resolve reads the store, as without the cache).
	Bound time.Duration
	// MaxFlows, MaxVersions and MaxVersionBytes bound the entries; 0
	// takes the defaults.
	MaxFlows, MaxVersions, MaxVersionBytes int
	// Now is the clock; nil is time.Now. Its readings carry both the
	// monotonic and the wall clock, and an entry is served only while both
	// say it is younger than Bound, so neither a wall-clock step nor a
	// frozen and thawed Lambda can make an entry look younger than it is.
	Now func() time.Time
}

// Cache is a registry.Store whose Resolve by tag is served from memory
// within the bound. Its writes go to the store and drop the flow's local
// routes, so within one process a change is seen by the next resolve.
type Cache struct {
	registry.Store
	reader   RouteReader
	bound    time.Duration
	now      func() time.Time
	mu       sync.Mutex // orders entry replacement in flows
	flows    *lru.Cache[flowKey, flowEntry]
	versions *lru.Cache[versionKey, registry.Deployment]
	// versionBytes is the approximate size of versions, kept under
	// maxVersionBytes by evicting the least recently used.
	versionBytes    atomic.Int64
	maxVersionBytes int64
	flights         singleflight.Group
}

var _ registry.Store = (*Cache)(nil)

type flowKey struct{ project, flow string }

type versionKey struct {
	project, flow string
	version       int
}

// flowEntry is a flow's routes as read when readAt was taken (just before
// the read was sent, so the routes are at least that new). A nil routes is
// a mark left by a local write: nothing read before it may be served.
type flowEntry struct {
	routes registry.Routes
	readAt time.Time
	// through holds, per tag, the highest revision a caller required when
	// this read was made: the read began after that caller's change was
	// acknowledged, so it satisfies it even when the tag is now free.
	through map[string]int64
	// mark is when the latest local write this entry knows of finished
	// (its readAt for a mark); reads share a flight only under one mark.
	mark time.Time
}

// New decorates store with a route cache.
func New(store Backend, cfg Config) *Cache {
	if cfg.MaxFlows <= 0 {
		cfg.MaxFlows = DefaultMaxFlows
	}
	if cfg.MaxVersions <= 0 {
		cfg.MaxVersions = DefaultMaxVersions
	}
	if cfg.MaxVersionBytes <= 0 {
		cfg.MaxVersionBytes = DefaultMaxVersionBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Cache{Store: store, reader: store, bound: cfg.Bound, now: cfg.Now, maxVersionBytes: int64(cfg.MaxVersionBytes)}
	c.flows, _ = lru.New[flowKey, flowEntry](cfg.MaxFlows)
	c.versions, _ = lru.NewWithEvict(cfg.MaxVersions, func(_ versionKey, d registry.Deployment) {
		c.versionBytes.Add(-deploymentSize(d))
	})
	return c
}

// deploymentSize approximates the memory a cached deployment holds.
func deploymentSize(d registry.Deployment) int64 {
	const overhead = 512 // the struct, its strings and the LRU's entry
	return int64(overhead + len(d.Inputs) + len(d.InputSchema) + len(d.Entrypoint) + len(d.Description) + len(d.Snapshot))
}

// keepVersion caches a deployment and evicts the least recently used
// until the cached ones fit the byte budget.
func (c *Cache) keepVersion(key versionKey, d registry.Deployment) {
	if found, _ := c.versions.ContainsOrAdd(key, d); found {
		return
	}
	c.versionBytes.Add(deploymentSize(d))
	for c.versionBytes.Load() > c.maxVersionBytes {
		if _, _, ok := c.versions.RemoveOldest(); !ok {
			return
		}
	}
}

type revisionKey struct{}

// WithMinRevision returns ctx carrying the route revision a resolve must
// not be older than (the Kitaru-Route-Revision a caller sent back).
func WithMinRevision(ctx context.Context, revision int64) context.Context {
	return context.WithValue(ctx, revisionKey{}, revision)
}

// MinRevision is the revision WithMinRevision put in ctx, or 0.
func MinRevision(ctx context.Context) int64 {
	r, _ := ctx.Value(revisionKey{}).(int64)
	return r
}

// Resolve answers a resolve by tag from routes read at most the bound ago
// and at or after the revision in ctx (MinRevision), picking a split's
// member per call exactly as the store does (registry.Routes.Resolve).
// Resolve by version reads the store every time: a deleted version must
// not be invoked, and only a read of its item can tell.
// Errors: those of registry.Store.Resolve.
func (c *Cache) Resolve(ctx context.Context, project, flow string, sel registry.Selector) (registry.Resolution, error) {
	if c.bound <= 0 || sel.Version != 0 {
		return c.Store.Resolve(ctx, project, flow, sel)
	}
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Resolution{}, err
	}
	if err := sel.Normalize(); err != nil {
		return registry.Resolution{}, err
	}
	routes, err := c.routes(ctx, flowKey{project, flow}, sel.Tag, MinRevision(ctx))
	if err != nil {
		return registry.Resolution{}, err
	}
	version, err := routes.Resolve(flow, sel, true)
	if err != nil {
		return registry.Resolution{}, err
	}
	d, err := c.deployment(ctx, versionKey{project, flow, version})
	if registry.CodeOf(err) == registry.CodeNotFound {
		// The routes still name a version deleted since (a shared tag's
		// last member): drop them and let the store answer.
		c.Invalidate(project, flow)
		return c.Store.Resolve(ctx, project, flow, sel)
	}
	if err != nil {
		return registry.Resolution{}, err
	}
	d.Tags = routes.TagsOf(version)
	route := routes[sel.Tag]
	route.Versions = slices.Clone(route.Versions)
	route.Split = route.Split.Clone()
	return registry.Resolution{Selector: sel, Deployment: d, Route: &route}, nil
}

// routes returns the flow's routes if they were read less than the bound
// ago and satisfy minRevision for tag; otherwise it reads them, one read
// per flow however many callers miss at once.
func (c *Cache) routes(ctx context.Context, key flowKey, tag string, minRevision int64) (registry.Routes, error) {
	e, ok := c.flows.Get(key)
	if ok && e.routes != nil && c.younger(e.readAt) && e.satisfies(tag, minRevision) {
		return e.routes, nil
	}
	// A caller must not share a read that may have begun before a change
	// it has to see was acknowledged: a local write (the flight is per
	// local-write mark), or the change whose revision it presents.
	flight := key.project + "\x00" + key.flow + "\x00" + strconv.FormatInt(e.mark.UnixNano(), 10)
	if minRevision > 0 {
		flight += "\x00" + tag + "\x00" + strconv.FormatInt(minRevision, 10)
	}
	v, err, _ := c.flights.Do(flight, func() (any, error) {
		readAt := c.now()
		// Shared by every caller in the flight: one caller going away
		// must not fail the others.
		routes, err := c.reader.ReadRoutes(context.WithoutCancel(ctx), key.project, key.flow)
		if err != nil {
			return nil, err
		}
		fresh := flowEntry{routes: routes, readAt: readAt, mark: e.mark}
		if minRevision > 0 {
			fresh.through = map[string]int64{tag: minRevision}
		}
		c.keep(key, fresh)
		return routes, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(registry.Routes), nil
}

// younger reports whether a read at readAt is younger than the bound by
// both the monotonic clock (immune to wall-clock steps) and the wall clock
// (which a frozen and thawed Lambda environment resyncs, whether or not
// its monotonic clock ran while frozen). A negative age (a clock stepped
// back) is never young.
func (c *Cache) younger(readAt time.Time) bool {
	now := c.now()
	mono, wall := now.Sub(readAt), now.Round(0).Sub(readAt.Round(0))
	return mono >= 0 && mono < c.bound && wall >= 0 && wall < c.bound
}

func (e flowEntry) satisfies(tag string, minRevision int64) bool {
	return minRevision <= 0 || e.routes[tag].Revision >= minRevision || e.through[tag] >= minRevision
}

// keep stores e unless the entry held is newer: a read that began later,
// or a local write's mark left when or after e's read began.
func (c *Cache) keep(key flowKey, e flowEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.flows.Peek(key); ok && (old.readAt.After(e.readAt) || old.routes == nil && !e.readAt.After(old.readAt)) {
		return
	}
	c.flows.Add(key, e)
}

// Invalidate drops a flow's cached routes in this process; a read that was
// under way when it was called is not kept either.
func (c *Cache) Invalidate(project, flow string) {
	now := c.now()
	c.keep(flowKey{project, flow}, flowEntry{readAt: now, mark: now})
}

// deployment returns a deployment's immutable part (Tags unset).
func (c *Cache) deployment(ctx context.Context, key versionKey) (registry.Deployment, error) {
	if d, ok := c.versions.Get(key); ok {
		return d, nil
	}
	v, err, _ := c.flights.Do(fmt.Sprintf("v\x00%s\x00%s\x00%d", key.project, key.flow, key.version), func() (any, error) {
		d, err := c.reader.ReadVersion(context.WithoutCancel(ctx), key.project, key.flow, key.version)
		if err != nil {
			return nil, err
		}
		d.Tags = nil
		c.keepVersion(key, d)
		return d, nil
	})
	if err != nil {
		return registry.Deployment{}, err
	}
	return v.(registry.Deployment), nil
}

// The writes below go to the store and then drop the flow's local routes,
// also when they fail: a failed write may still have committed.

// Deploy deploys through the store; see registry.Store.
func (c *Cache) Deploy(ctx context.Context, req registry.DeployRequest) (registry.Deployment, error) {
	defer c.Invalidate(req.Project, req.Flow)
	return c.Store.Deploy(ctx, req)
}

// DeleteDeployment deletes through the store; see registry.Store.
func (c *Cache) DeleteDeployment(ctx context.Context, project, flow string, version int, by string) error {
	defer c.Invalidate(project, flow)
	return c.Store.DeleteDeployment(ctx, project, flow, version, by)
}

// DeleteFlow deletes through the store; see registry.Store.
func (c *Cache) DeleteFlow(ctx context.Context, project, flow string, force bool, by string) (registry.FlowDeletion, error) {
	defer c.Invalidate(project, flow)
	return c.Store.DeleteFlow(ctx, project, flow, force, by)
}

// PutTag changes a route through the store; see registry.Store.
func (c *Cache) PutTag(ctx context.Context, req registry.TagRequest) (registry.Tag, error) {
	defer c.Invalidate(req.Project, req.Flow)
	return c.Store.PutTag(ctx, req)
}

// RemoveTag changes a route through the store; see registry.Store.
func (c *Cache) RemoveTag(ctx context.Context, req registry.TagRequest) error {
	defer c.Invalidate(req.Project, req.Flow)
	return c.Store.RemoveTag(ctx, req)
}

// RollbackTag changes a route through the store; see registry.Store.
func (c *Cache) RollbackTag(ctx context.Context, project, flow, tag, by string) (registry.Tag, error) {
	defer c.Invalidate(project, flow)
	return c.Store.RollbackTag(ctx, project, flow, tag, by)
}
