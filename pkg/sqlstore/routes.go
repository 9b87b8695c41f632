package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// This file holds every write of a flow's versions and routes. Each public
// method is one write transaction: it reads what it needs, lets
// registry.Route's transitions decide the route change, and writes the
// outcome with its history record (I8). Writers are serialised, so nothing
// a method read can change before it commits: there is no re-planning.

// flowRow is a flow's counters.
type flowRow struct {
	exists      bool
	lastVersion int
	clock       int64
	deployments int
	createdAt   time.Time
	updatedAt   time.Time
}

func (f flowRow) live() bool { return f.exists && f.deployments > 0 }

func getFlow(ctx context.Context, q queryer, project, flow string) (flowRow, error) {
	var f flowRow
	var created, updated int64
	err := q.QueryRowContext(ctx, `SELECT last_version, clock, deployments, created_at, updated_at FROM flows WHERE project = ? AND flow = ?`, project, flow).
		Scan(&f.lastVersion, &f.clock, &f.deployments, &created, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return flowRow{}, nil
	case err != nil:
		return flowRow{}, fmt.Errorf("read flow %s: %w", flow, err)
	}
	f.exists, f.createdAt, f.updatedAt = true, fromNanos(created), fromNanos(updated)
	return f, nil
}

// liveFlow reads a flow that has deployments. Errors: not_found.
func liveFlow(ctx context.Context, q queryer, project, flow string) (flowRow, error) {
	f, err := getFlow(ctx, q, project, flow)
	if err == nil && !f.live() {
		err = registry.FlowNotFound(flow)
	}
	return f, err
}

// getRoute reads one tag's route; a tag never set is a free route at revision 0.
func getRoute(ctx context.Context, q queryer, project, flow, tag string) (registry.Route, error) {
	r := registry.Route{Flow: flow, Tag: tag}
	rows, err := q.QueryContext(ctx, `SELECT r.exclusive, r.revision, r.clock, m.version, m.weight FROM routes r
		LEFT JOIN route_members m ON m.project = r.project AND m.flow = r.flow AND m.tag = r.tag
		WHERE r.project = ? AND r.flow = ? AND r.tag = ? ORDER BY m.version`, project, flow, tag)
	if err != nil {
		return r, fmt.Errorf("read tag %s of %s: %w", tag, flow, err)
	}
	defer rows.Close()
	for rows.Next() {
		var v, w sql.NullInt64
		if err := rows.Scan(&r.Exclusive, &r.Revision, &r.Clock, &v, &w); err != nil {
			return r, fmt.Errorf("read tag %s of %s: %w", tag, flow, err)
		}
		if v.Valid {
			r.Versions = append(r.Versions, int(v.Int64))
			r.Split = withWeight(r.Split, int(v.Int64), w)
		}
	}
	return r, rows.Err()
}

// getRoutes reads a flow's routing table (routes some version holds).
func getRoutes(ctx context.Context, q queryer, project, flow string) (registry.Routes, error) {
	rows, err := q.QueryContext(ctx, `SELECT r.tag, r.exclusive, r.revision, m.version, m.weight FROM routes r
		JOIN route_members m ON m.project = r.project AND m.flow = r.flow AND m.tag = r.tag
		WHERE r.project = ? AND r.flow = ? ORDER BY r.tag, m.version`, project, flow)
	if err != nil {
		return nil, fmt.Errorf("read the routes of %s: %w", flow, err)
	}
	defer rows.Close()
	routes := registry.Routes{}
	for rows.Next() {
		var t registry.Tag
		var v int
		var w sql.NullInt64
		if err := rows.Scan(&t.Name, &t.Exclusive, &t.Revision, &v, &w); err != nil {
			return nil, fmt.Errorf("read the routes of %s: %w", flow, err)
		}
		if prev, ok := routes[t.Name]; ok {
			t.Versions, t.Split = prev.Versions, prev.Split
		}
		t.Flow, t.Versions, t.Split = flow, append(t.Versions, v), withWeight(t.Split, v, w)
		routes[t.Name] = t
	}
	return routes, rows.Err()
}

// withWeight adds a member's weight to a split (a member without one is a
// plain target: the split stays as it is).
func withWeight(s registry.Split, version int, weight sql.NullInt64) registry.Split {
	if !weight.Valid {
		return s
	}
	if s == nil {
		s = registry.Split{}
	}
	s[version] = int(weight.Int64)
	return s
}

// splitJSON is a split as history stores it (NULL when not split).
func splitJSON(s registry.Split) (any, error) {
	if s == nil {
		return nil, nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode split: %w", err)
	}
	return string(b), nil
}

// routeChange is one route change to write: the route before and after
// (a transition's result) and what history records about it.
type routeChange struct {
	project, flow string
	before, after registry.Route
	action        registry.Action
	// version is the version the change is about: the new target or member,
	// or the version the tag left (0 when the change sets a split).
	version int
	by      string
	at      time.Time
}

// leaves reports whether the change takes the tag off version.
func (c routeChange) leaves() bool {
	return c.action == registry.ActionRemove || c.action == registry.ActionDelete
}

// writeRoute writes c: its history record first (the triggers require it),
// then the route and its members. From of an exclusive move is the target
// it left, so history chains consistently.
func writeRoute(ctx context.Context, tx *sql.Tx, c routeChange) error {
	var from, to any
	var fromSplit, toSplit registry.Split
	switch {
	case c.leaves():
		from = c.version
	case c.after.Exclusive && c.before.Exclusive && !c.before.Free():
		if fromSplit = c.before.Split; fromSplit == nil {
			from = c.before.Versions[0]
		}
		if toSplit = c.after.Split; toSplit == nil {
			to = c.version
		}
	case c.after.Split != nil:
		toSplit = c.after.Split
	default:
		to = c.version
	}
	fs, err := splitJSON(fromSplit)
	if err != nil {
		return err
	}
	ts, err := splitJSON(toSplit)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO history (project, flow, tag, clock, action, exclusive, from_version, to_version, from_split, to_split, changed_by, changed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.project, c.flow, c.after.Tag, c.after.Clock, string(c.action), c.after.Exclusive, from, to, fs, ts, c.by, nanos(c.at)); err != nil {
		return fmt.Errorf("record the change of tag %s: %w", c.after.Tag, err)
	}
	for _, v := range c.before.Versions {
		if !c.after.Holds(v) {
			if _, err := tx.ExecContext(ctx, `DELETE FROM route_members WHERE project = ? AND flow = ? AND tag = ? AND version = ?`, c.project, c.flow, c.after.Tag, v); err != nil {
				return fmt.Errorf("move tag %s: %w", c.after.Tag, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO routes (project, flow, tag, exclusive, revision, clock) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (project, flow, tag) DO UPDATE SET exclusive = excluded.exclusive, revision = excluded.revision, clock = excluded.clock`,
		c.project, c.flow, c.after.Tag, c.after.Exclusive, c.after.Revision, c.after.Clock); err != nil {
		return fmt.Errorf("move tag %s: %w", c.after.Tag, err)
	}
	for _, v := range c.after.Versions {
		if !c.before.Holds(v) || c.before.Split[v] != c.after.Split[v] {
			if _, err := tx.ExecContext(ctx, `INSERT INTO route_members (project, flow, tag, version, exclusive, weight) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (project, flow, tag, version) DO UPDATE SET weight = excluded.weight`,
				c.project, c.flow, c.after.Tag, v, c.after.Exclusive, nullInt(c.after.Split[v])); err != nil {
				return fmt.Errorf("move tag %s: %w", c.after.Tag, err)
			}
		}
	}
	return nil
}

// Deploy allocates the next version, saves it and attaches its routing tag
// (and `default` on the flow's first deploy) in one transaction. Like
// pkg/dynamo it allocates two route clock values: clock-1 for `default`,
// clock for the routing tag.
func (s *Store) Deploy(ctx context.Context, req registry.DeployRequest) (registry.Deployment, error) {
	if err := req.Normalize(); err != nil {
		return registry.Deployment{}, err
	}
	now := s.now().UTC()
	var d registry.Deployment
	err := s.write(ctx, "deploy "+req.Flow, func(tx *sql.Tx) error {
		f, err := getFlow(ctx, tx, req.Project, req.Flow)
		if err != nil {
			return err
		}
		var route registry.Route
		if !req.Build {
			if route, err = getRoute(ctx, tx, req.Project, req.Flow, req.Tag); err != nil {
				return err
			}
			if !route.AllowsMode(req.Exclusive) {
				return route.ModeClash(req.Exclusive)
			}
			if err := checkTagCapacity(ctx, tx, req.Project, route, s.maxLiveTags); err != nil {
				return err
			}
		}
		version, clock := f.lastVersion+1, f.clock+2
		if _, err := tx.ExecContext(ctx, `INSERT INTO flows (project, flow, last_version, clock, deployments, created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)
			ON CONFLICT (project, flow) DO UPDATE SET last_version = excluded.last_version, clock = excluded.clock, deployments = deployments + 1, updated_at = excluded.updated_at,
				created_at = CASE WHEN deployments = 0 THEN excluded.created_at ELSE created_at END`,
			req.Project, req.Flow, version, clock, nanos(now), nanos(now)); err != nil {
			return fmt.Errorf("allocate a version: %w", err)
		}
		d = registry.Deployment{
			Project: req.Project, Flow: req.Flow, Version: version, Snapshot: registry.SnapshotName(req.Flow, version),
			Tags: map[string]bool{}, Entrypoint: req.Entrypoint, Source: req.Source, Inputs: req.Inputs, InputSchema: req.InputSchema,
			Stack: req.Stack, Description: req.Description, Secrets: req.Secrets, CreatedAt: now, CreatedBy: req.By,
		}
		if err := insertVersion(ctx, tx, d); err != nil {
			return err
		}
		change := routeChange{project: req.Project, flow: req.Flow, before: route, action: registry.ActionDeploy, version: version, by: req.By, at: now}
		if req.Build {
			// A build attaches no routing tag; only `default` on the flow's
			// first version.
			return s.attachFirstDefault(ctx, tx, change, &d, clock)
		}
		if req.Exclusive {
			change.after, err = route.Move(version, clock)
		} else {
			change.after, err = route.AddShared(version, clock)
		}
		if err != nil {
			return err
		}
		if err := writeRoute(ctx, tx, change); err != nil {
			return err
		}
		d.Tags[req.Tag] = req.Exclusive
		if req.Tag == registry.DefaultTag {
			return nil
		}
		return s.attachFirstDefault(ctx, tx, change, &d, clock)
	})
	if err != nil {
		return registry.Deployment{}, err
	}
	return d, nil
}

// attachFirstDefault gives `default` to the deployed version d when no
// version holds it: the flow's first deploy (or the first after `default`
// lost its version) gets it (I3, I6), at route clock clock-1.
func (s *Store) attachFirstDefault(ctx context.Context, tx *sql.Tx, change routeChange, d *registry.Deployment, clock int64) error {
	def, err := getRoute(ctx, tx, d.Project, d.Flow, registry.DefaultTag)
	if err != nil || !def.Free() {
		return err
	}
	change.before = def
	if change.after, err = def.Move(d.Version, clock-1); err != nil {
		return err
	}
	d.Tags[registry.DefaultTag] = true
	return writeRoute(ctx, tx, change)
}

func insertVersion(ctx context.Context, tx *sql.Tx, d registry.Deployment) error {
	var source any
	if d.Source != nil {
		b, err := json.Marshal(d.Source)
		if err != nil {
			return fmt.Errorf("encode source: %w", err)
		}
		source = string(b)
	}
	var schema any
	if len(d.InputSchema) > 0 {
		schema = string(d.InputSchema)
	}
	var secrets any
	if len(d.Secrets) > 0 {
		b, err := json.Marshal(d.Secrets)
		if err != nil {
			return fmt.Errorf("encode the secrets of v%d: %w", d.Version, err)
		}
		secrets = string(b)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO versions (project, flow, version, snapshot, entrypoint, source, inputs, input_schema, stack, description, secrets, created_at, created_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Project, d.Flow, d.Version, d.Snapshot, d.Entrypoint, source, string(d.Inputs), schema, d.Stack, d.Description, secrets, nanos(d.CreatedAt), d.CreatedBy)
	if err != nil {
		return fmt.Errorf("save version %d: %w", d.Version, err)
	}
	return nil
}

// bumpClock allocates n route clock values of a flow and returns the first.
func bumpClock(ctx context.Context, tx *sql.Tx, project, flow string, f flowRow, n int64, now time.Time) (int64, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE flows SET clock = clock + ?, updated_at = ? WHERE project = ? AND flow = ?`, n, nanos(now), project, flow); err != nil {
		return 0, fmt.Errorf("allocate a route clock: %w", err)
	}
	return f.clock + 1, nil
}

func versionExists(ctx context.Context, q queryer, project, flow string, version int) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, `SELECT 1 FROM versions WHERE project = ? AND flow = ? AND version = ?`, project, flow, version).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// PutTag adds a tag to a version (an exclusive tag moves there) in one
// transaction; the refusals and their order are pkg/dynamo's.
func (s *Store) PutTag(ctx context.Context, req registry.TagRequest) (registry.Tag, error) {
	if err := req.Normalize(); err != nil {
		return registry.Tag{}, err
	}
	var tag registry.Tag
	err := s.write(ctx, fmt.Sprintf("tag %s of %s", req.Tag, req.Flow), func(tx *sql.Tx) (err error) {
		tag, err = s.putTag(ctx, tx, req, nil)
		return err
	})
	return tag, err
}

// putTag is PutTag inside tx; expectClock, when set, requires the tag's
// last change to be that one (a rollback moves only what it looked at).
func (s *Store) putTag(ctx context.Context, tx *sql.Tx, req registry.TagRequest, expectClock *int64) (registry.Tag, error) {
	f, err := liveFlow(ctx, tx, req.Project, req.Flow)
	if err != nil {
		return registry.Tag{}, err
	}
	route, err := getRoute(ctx, tx, req.Project, req.Flow, req.Tag)
	if err != nil {
		return registry.Tag{}, err
	}
	if err := route.Check(req, expectClock); err != nil {
		return registry.Tag{}, err
	}
	if highest := req.Highest(); highest > f.lastVersion {
		return registry.Tag{}, registry.VersionNotFound(req.Flow, highest)
	}
	if route.RoutedAs(req) {
		return route.AsTag(), nil
	}
	for _, v := range req.Targets() {
		switch exists, err := versionExists(ctx, tx, req.Project, req.Flow, v); {
		case err != nil:
			return registry.Tag{}, err
		case !exists && req.Rollback:
			return registry.Tag{}, registry.RollbackToDeleted(req.Flow, req.Tag, v)
		case !exists:
			return registry.Tag{}, registry.VersionNotFound(req.Flow, v)
		}
	}
	if err := checkTagCapacity(ctx, tx, req.Project, route, s.maxLiveTags); err != nil {
		return registry.Tag{}, err
	}
	now := s.now().UTC()
	clock, err := bumpClock(ctx, tx, req.Project, req.Flow, f, 1, now)
	if err != nil {
		return registry.Tag{}, err
	}
	next, err := route.Apply(req, clock, nil)
	if err != nil {
		return registry.Tag{}, err
	}
	action := registry.ActionMove
	switch {
	case req.Rollback:
		action = registry.ActionRollback
	case !req.Exclusive:
		action = registry.ActionAdd
	}
	change := routeChange{project: req.Project, flow: req.Flow, before: route, after: next, action: action, version: req.Version, by: req.By, at: now}
	return next.AsTag(), writeRoute(ctx, tx, change)
}

// RemoveTag takes a tag off one version in one transaction.
func (s *Store) RemoveTag(ctx context.Context, req registry.TagRequest) error {
	if err := req.Normalize(); err != nil {
		return err
	}
	if req.Tag == registry.DefaultTag {
		return registry.DefaultNotRemovable(req.Flow)
	}
	return s.write(ctx, fmt.Sprintf("untag %s of %s", req.Tag, req.Flow), func(tx *sql.Tx) error {
		f, err := liveFlow(ctx, tx, req.Project, req.Flow)
		if err != nil {
			return err
		}
		route, err := getRoute(ctx, tx, req.Project, req.Flow, req.Tag)
		if err != nil {
			return err
		}
		if req.IfRevision != nil && route.Revision != *req.IfRevision {
			return route.StaleRevision(*req.IfRevision)
		}
		if !route.Holds(req.Version) {
			return route.NotHeld(req.Version)
		}
		now := s.now().UTC()
		clock, err := bumpClock(ctx, tx, req.Project, req.Flow, f, 1, now)
		if err != nil {
			return err
		}
		next, err := route.Remove(req.Version, clock)
		if err != nil {
			return err
		}
		return writeRoute(ctx, tx, routeChange{project: req.Project, flow: req.Flow, before: route, after: next, action: registry.ActionRemove, version: req.Version, by: req.By, at: now})
	})
}

// RollbackTag moves an exclusive tag back to the version its last change
// took it from, in one transaction with the history read it is based on.
func (s *Store) RollbackTag(ctx context.Context, project, flow, tag, by string) (registry.Tag, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Tag{}, err
	}
	if err := registry.ValidateTagName(tag); err != nil {
		return registry.Tag{}, err
	}
	var moved registry.Tag
	err := s.write(ctx, fmt.Sprintf("roll back tag %s of %s", tag, flow), func(tx *sql.Tx) error {
		recent, err := queryHistory(ctx, tx, project, flow, tag, 1, nil)
		if err != nil {
			return err
		}
		var last *registry.RouteChange
		if len(recent) > 0 {
			last = &recent[0]
		}
		previous, split, err := registry.RollbackTarget(flow, tag, last)
		if err != nil {
			return err
		}
		moved, err = s.putTag(ctx, tx, registry.TagRequest{Project: project, Flow: flow, Tag: tag, Version: previous, Split: split, Exclusive: true, By: by, Rollback: true}, &last.Revision)
		return err
	})
	return moved, err
}

// DeleteDeployment deletes a version that holds no exclusive tag (I4); the
// shared tags it holds leave with it, each with its history record.
func (s *Store) DeleteDeployment(ctx context.Context, project, flow string, version int, by string) error {
	return s.deleteDeployment(ctx, project, flow, version, by, false)
}

// DeleteUnroutedDeployment implements registry.UnroutedDeleter: the delete
// above, refused also while shared tags route to the version.
func (s *Store) DeleteUnroutedDeployment(ctx context.Context, project, flow string, version int, by string) error {
	return s.deleteDeployment(ctx, project, flow, version, by, true)
}

func (s *Store) deleteDeployment(ctx context.Context, project, flow string, version int, by string, unroutedOnly bool) error {
	if err := registry.ValidateFlowName(flow); err != nil {
		return err
	}
	if err := registry.ValidateVersion(version); err != nil {
		return err
	}
	return s.write(ctx, fmt.Sprintf("delete %s v%d", flow, version), func(tx *sql.Tx) error {
		f, err := liveFlow(ctx, tx, project, flow)
		if err != nil {
			return err
		}
		switch exists, err := versionExists(ctx, tx, project, flow, version); {
		case err != nil:
			return err
		case !exists:
			return registry.VersionNotFound(flow, version)
		}
		tags, err := tagsOf(ctx, tx, project, flow, version)
		if err != nil {
			return err
		}
		var shared, held []string
		for name, exclusive := range tags {
			if exclusive {
				held = append(held, name)
			} else {
				shared = append(shared, name)
			}
		}
		if len(held) > 0 {
			slices.Sort(held)
			return registry.HoldsExclusiveTags(flow, version, held)
		}
		slices.Sort(shared)
		if unroutedOnly && len(shared) > 0 {
			return registry.VersionRouted(flow, version, shared)
		}
		now := s.now().UTC()
		first, err := bumpClock(ctx, tx, project, flow, f, int64(len(shared)), now)
		if err != nil {
			return err
		}
		for i, name := range shared {
			route, err := getRoute(ctx, tx, project, flow, name)
			if err != nil {
				return err
			}
			next, err := route.Remove(version, first+int64(i))
			if err != nil {
				return err
			}
			if err := writeRoute(ctx, tx, routeChange{project: project, flow: flow, before: route, after: next, action: registry.ActionDelete, version: version, by: by, at: now}); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM versions WHERE project = ? AND flow = ? AND version = ?`, project, flow, version); err != nil {
			return fmt.Errorf("delete the version: %w", err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE flows SET deployments = deployments - 1, updated_at = ? WHERE project = ? AND flow = ?`, nanos(now), project, flow)
		return err
	})
}

// tagsOf reads the tags a version holds, name → exclusive.
func tagsOf(ctx context.Context, q queryer, project, flow string, version int) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT tag, exclusive FROM route_members WHERE project = ? AND flow = ? AND version = ?`, project, flow, version)
	if err != nil {
		return nil, fmt.Errorf("read the tags of v%d: %w", version, err)
	}
	defer rows.Close()
	tags := map[string]bool{}
	for rows.Next() {
		var name string
		var exclusive bool
		if err := rows.Scan(&name, &exclusive); err != nil {
			return nil, err
		}
		tags[name] = exclusive
	}
	return tags, rows.Err()
}
