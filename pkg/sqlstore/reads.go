package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
)

// pageToken is the opaque next_token: which list it pages and the key of
// the last item handed out. A token of another list (or project) is refused.
type pageToken struct {
	List  string `json:"l"`
	After string `json:"a"`
}

func listID(parts ...string) string { return strings.Join(parts, "\x00") }

func encodeToken(list, after string) string {
	b, _ := json.Marshal(pageToken{List: list, After: after})
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken returns the key a token continues after; "" starts the list.
// Errors: invalid_argument.
func decodeToken(token, list string) (string, error) {
	if token == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	var t pageToken
	if err != nil || json.Unmarshal(b, &t) != nil || t.List != list || t.After == "" {
		return "", registry.InvalidPageToken()
	}
	return t.After, nil
}

// decodeIntToken is decodeToken for lists keyed by a positive integer.
func decodeIntToken(token, list string) (int64, error) {
	after, err := decodeToken(token, list)
	if err != nil || after == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(after, 10, 64)
	if err != nil || n <= 0 {
		return 0, registry.InvalidPageToken()
	}
	return n, nil
}

// versionColumns are read by scanVersion, in this order.
const versionColumns = `version, snapshot, entrypoint, source, inputs, input_schema, stack, description, secrets, created_at, created_by`

func scanVersion(row interface{ Scan(...any) error }, project, flow string) (registry.Deployment, error) {
	d := registry.Deployment{Project: project, Flow: flow}
	var source, schema, secrets sql.NullString
	var inputs string
	var created int64
	if err := row.Scan(&d.Version, &d.Snapshot, &d.Entrypoint, &source, &inputs, &schema, &d.Stack, &d.Description, &secrets, &created, &d.CreatedBy); err != nil {
		return d, err
	}
	if secrets.Valid {
		if err := json.Unmarshal([]byte(secrets.String), &d.Secrets); err != nil {
			return d, fmt.Errorf("decode the secrets of v%d: %w", d.Version, err)
		}
	}
	d.Inputs, d.CreatedAt = json.RawMessage(inputs), fromNanos(created)
	if schema.Valid {
		d.InputSchema = json.RawMessage(schema.String)
	}
	if source.Valid {
		d.Source = &registry.Source{}
		if err := json.Unmarshal([]byte(source.String), d.Source); err != nil {
			return d, fmt.Errorf("decode the source of v%d: %w", d.Version, err)
		}
	}
	return d, nil
}

// getVersion reads one version. Errors: not_found.
func getVersion(ctx context.Context, q queryer, project, flow string, version int) (registry.Deployment, error) {
	d, err := scanVersion(q.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM versions WHERE project = ? AND flow = ? AND version = ?`, project, flow, version), project, flow)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return d, registry.VersionNotFound(flow, version)
	case err != nil:
		return d, fmt.Errorf("read %s v%d: %w", flow, version, err)
	}
	return d, nil
}

// GetDeployment reads the flow, the version and the tags it holds: three
// primary-key or index lookups in one snapshot.
func (s *Store) GetDeployment(ctx context.Context, project, flow string, version int) (registry.Deployment, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Deployment{}, err
	}
	if err := registry.ValidateVersion(version); err != nil {
		return registry.Deployment{}, err
	}
	var d registry.Deployment
	err := s.read(ctx, fmt.Sprintf("read %s v%d", flow, version), func(tx *sql.Tx) (err error) {
		if _, err = liveFlow(ctx, tx, project, flow); err != nil {
			return err
		}
		if d, err = getVersion(ctx, tx, project, flow, version); err != nil {
			return err
		}
		d.Tags, err = tagsOf(ctx, tx, project, flow, version)
		return err
	})
	return d, err
}

// Resolve reads the flow's routes and the version they pick: independent
// of how many versions the flow has (I7).
func (s *Store) Resolve(ctx context.Context, project, flow string, sel registry.Selector) (registry.Resolution, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Resolution{}, err
	}
	if err := sel.Normalize(); err != nil {
		return registry.Resolution{}, err
	}
	if sel.Version != 0 {
		d, err := s.GetDeployment(ctx, project, flow, sel.Version)
		return registry.Resolution{Selector: sel, Deployment: d}, err
	}
	res := registry.Resolution{Selector: sel}
	err := s.read(ctx, "resolve "+flow, func(tx *sql.Tx) error {
		f, err := getFlow(ctx, tx, project, flow)
		if err != nil {
			return err
		}
		routes, err := getRoutes(ctx, tx, project, flow)
		if err != nil {
			return err
		}
		version, err := routes.Resolve(flow, sel, f.live())
		if err != nil {
			return err
		}
		if res.Deployment, err = getVersion(ctx, tx, project, flow, version); err != nil {
			return err
		}
		res.Deployment.Tags = routes.TagsOf(version)
		route := routes[sel.Tag]
		res.Route = &route
		return nil
	})
	return res, err
}

// GetTag reads one tag's route. Errors: not_found (no flow, or no version holds the tag).
func (s *Store) GetTag(ctx context.Context, project, flow, tag string) (registry.Tag, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.Tag{}, err
	}
	if err := registry.ValidateTagName(tag); err != nil {
		return registry.Tag{}, err
	}
	var route registry.Route
	err := s.read(ctx, fmt.Sprintf("read tag %s of %s", tag, flow), func(tx *sql.Tx) (err error) {
		if _, err = liveFlow(ctx, tx, project, flow); err != nil {
			return err
		}
		route, err = getRoute(ctx, tx, project, flow, tag)
		return err
	})
	switch {
	case err != nil:
		return registry.Tag{}, err
	case route.Free():
		return registry.Tag{}, registry.TagNotFound(flow, tag)
	}
	return route.AsTag(), nil
}

// ListDeployments pages through versions newest first: a range of the
// versions' primary key and the tags of that range.
func (s *Store) ListDeployments(ctx context.Context, project, flow string, page registry.PageRequest) (registry.Page[registry.Deployment], error) {
	var res registry.Page[registry.Deployment]
	if err := registry.ValidateFlowName(flow); err != nil {
		return res, err
	}
	if err := page.Normalize(); err != nil {
		return res, err
	}
	list := listID("versions", project, flow)
	before, err := decodeIntToken(page.Token, list)
	if err != nil {
		return res, err
	}
	if before == 0 {
		before = 1 << 62
	}
	err = s.read(ctx, "list deployments of "+flow, func(tx *sql.Tx) error {
		if _, err := liveFlow(ctx, tx, project, flow); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+versionColumns+` FROM versions WHERE project = ? AND flow = ? AND version < ? ORDER BY version DESC LIMIT ?`,
			project, flow, before, page.Limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		res.Items = []registry.Deployment{}
		for rows.Next() {
			d, err := scanVersion(rows, project, flow)
			if err != nil {
				return err
			}
			res.Items = append(res.Items, d)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(res.Items) > page.Limit {
			res.Items = res.Items[:page.Limit]
			res.NextToken = encodeToken(list, strconv.Itoa(res.Items[page.Limit-1].Version))
		}
		if len(res.Items) == 0 {
			return nil
		}
		tags, err := tx.QueryContext(ctx, `SELECT version, tag, exclusive FROM route_members WHERE project = ? AND flow = ? AND version BETWEEN ? AND ?`,
			project, flow, res.Items[len(res.Items)-1].Version, res.Items[0].Version)
		if err != nil {
			return err
		}
		defer tags.Close()
		byVersion := map[int]map[string]bool{}
		for tags.Next() {
			var v int
			var name string
			var exclusive bool
			if err := tags.Scan(&v, &name, &exclusive); err != nil {
				return err
			}
			if byVersion[v] == nil {
				byVersion[v] = map[string]bool{}
			}
			byVersion[v][name] = exclusive
		}
		for i := range res.Items {
			if res.Items[i].Tags = byVersion[res.Items[i].Version]; res.Items[i].Tags == nil {
				res.Items[i].Tags = map[string]bool{}
			}
		}
		return tags.Err()
	})
	return res, err
}

// GetFlow summarises one flow.
func (s *Store) GetFlow(ctx context.Context, project, flow string) (registry.FlowSummary, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return registry.FlowSummary{}, err
	}
	var fs []registry.FlowSummary
	err := s.read(ctx, "read flow "+flow, func(tx *sql.Tx) (err error) {
		fs, err = summaries(ctx, tx, project, `f.flow = ?`, []any{flow}, 1)
		return err
	})
	switch {
	case err != nil:
		return registry.FlowSummary{}, err
	case len(fs) == 0:
		return registry.FlowSummary{}, registry.FlowNotFound(flow)
	}
	return fs[0], nil
}

// ListFlows pages through the project's flows by name: one range of the
// flows' primary key, the newest version of each (an index lookup per flow)
// and the routes of that range of flows.
func (s *Store) ListFlows(ctx context.Context, project string, page registry.PageRequest) (registry.Page[registry.FlowSummary], error) {
	var res registry.Page[registry.FlowSummary]
	if err := page.Normalize(); err != nil {
		return res, err
	}
	list := listID("flows", project)
	after, err := decodeToken(page.Token, list)
	if err != nil {
		return res, err
	}
	err = s.read(ctx, "list flows", func(tx *sql.Tx) (err error) {
		res.Items, err = summaries(ctx, tx, project, `f.flow > ?`, []any{after}, page.Limit+1)
		return err
	})
	if err != nil {
		return res, err
	}
	if len(res.Items) > page.Limit {
		res.Items = res.Items[:page.Limit]
		res.NextToken = encodeToken(list, res.Items[page.Limit-1].Flow)
	}
	return res, nil
}

// summaries reads up to limit live flows of a project matching cond
// (a condition on f.flow), by name, with their routes.
func summaries(ctx context.Context, tx *sql.Tx, project, cond string, args []any, limit int) ([]registry.FlowSummary, error) {
	rows, err := tx.QueryContext(ctx, `SELECT f.flow, f.deployments, f.created_at, f.updated_at,
		(SELECT max(v.version) FROM versions v WHERE v.project = f.project AND v.flow = f.flow)
		FROM flows f WHERE f.project = ? AND f.deployments > 0 AND `+cond+` ORDER BY f.flow LIMIT ?`,
		append(append([]any{project}, args...), limit)...)
	if err != nil {
		return nil, fmt.Errorf("read flows: %w", err)
	}
	defer rows.Close()
	out := []registry.FlowSummary{}
	for rows.Next() {
		fs := registry.FlowSummary{Project: project, Tags: map[string][]int{}, ExclusiveTags: []string{}}
		var created, updated int64
		if err := rows.Scan(&fs.Flow, &fs.DeploymentCount, &created, &updated, &fs.LatestVersion); err != nil {
			return nil, fmt.Errorf("read flows: %w", err)
		}
		fs.CreatedAt, fs.UpdatedAt = fromNanos(created), fromNanos(updated)
		out = append(out, fs)
	}
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	members, err := tx.QueryContext(ctx, `SELECT flow, tag, exclusive, version, weight FROM route_members
		WHERE project = ? AND flow BETWEEN ? AND ? ORDER BY flow, tag, version`, project, out[0].Flow, out[len(out)-1].Flow)
	if err != nil {
		return nil, fmt.Errorf("read routes: %w", err)
	}
	defer members.Close()
	at := map[string]*registry.FlowSummary{}
	for i := range out {
		at[out[i].Flow] = &out[i]
	}
	for members.Next() {
		var flow, tag string
		var exclusive bool
		var v int
		var weight sql.NullInt64
		if err := members.Scan(&flow, &tag, &exclusive, &v, &weight); err != nil {
			return nil, fmt.Errorf("read routes: %w", err)
		}
		fs := at[flow]
		if fs == nil {
			continue // a flow between two of the page's that has no deployments
		}
		if len(fs.Tags[tag]) == 0 && exclusive {
			fs.ExclusiveTags = append(fs.ExclusiveTags, tag)
		}
		fs.Tags[tag] = append(fs.Tags[tag], v)
		if weight.Valid {
			if fs.Splits == nil {
				fs.Splits = map[string]registry.Split{}
			}
			fs.Splits[tag] = withWeight(fs.Splits[tag], v, weight)
		}
		if tag == registry.DefaultTag {
			fs.DefaultVersion = &v
		}
	}
	for i := range out {
		slices.Sort(out[i].ExclusiveTags)
		if split := out[i].Splits[registry.DefaultTag]; split != nil {
			v := split.Heaviest()
			out[i].DefaultVersion = &v
		}
	}
	return out, members.Err()
}

// TagHistory pages through a tag's changes, newest first.
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
	list := listID("history", project, flow, tag)
	before, err := decodeIntToken(page.Token, list)
	if err != nil {
		return res, err
	}
	err = s.read(ctx, fmt.Sprintf("read history of tag %s", tag), func(tx *sql.Tx) error {
		var b *int64
		if before != 0 {
			b = &before
		}
		changes, err := queryHistory(ctx, tx, project, flow, tag, page.Limit+1, b)
		if err != nil {
			return err
		}
		if len(changes) == 0 && b == nil {
			if _, err := liveFlow(ctx, tx, project, flow); err != nil {
				return err
			}
		}
		if len(changes) > page.Limit {
			changes = changes[:page.Limit]
			res.NextToken = encodeToken(list, strconv.FormatInt(changes[page.Limit-1].Revision, 10))
		}
		res.Items = changes
		return nil
	})
	return res, err
}

// queryHistory reads up to limit changes of a tag newest first, before the
// given clock when set.
func queryHistory(ctx context.Context, q queryer, project, flow, tag string, limit int, before *int64) ([]registry.RouteChange, error) {
	upper := int64(1 << 62)
	if before != nil {
		upper = *before
	}
	rows, err := q.QueryContext(ctx, `SELECT clock, action, exclusive, from_version, to_version, from_split, to_split, changed_by, changed_at FROM history
		WHERE project = ? AND flow = ? AND tag = ? AND clock < ? ORDER BY clock DESC LIMIT ?`, project, flow, tag, upper, limit)
	if err != nil {
		return nil, fmt.Errorf("read history of tag %s: %w", tag, err)
	}
	defer rows.Close()
	changes := []registry.RouteChange{}
	for rows.Next() {
		c := registry.RouteChange{Flow: flow, Tag: tag}
		var from, to sql.NullInt64
		var fromSplit, toSplit sql.NullString
		var at int64
		if err := rows.Scan(&c.Revision, &c.Action, &c.Exclusive, &from, &to, &fromSplit, &toSplit, &c.By, &at); err != nil {
			return nil, fmt.Errorf("read history of tag %s: %w", tag, err)
		}
		c.From, c.To, c.At = intPtr(from), intPtr(to), fromNanos(at)
		if err := decodeSplits(&c, fromSplit, toSplit); err != nil {
			return nil, fmt.Errorf("read history of tag %s: %w", tag, err)
		}
		changes = append(changes, c)
	}
	return changes, rows.Err()
}

// decodeSplits reads the splits a history record stores (NULL when none).
func decodeSplits(c *registry.RouteChange, from, to sql.NullString) error {
	for _, f := range []struct {
		text sql.NullString
		into *registry.Split
	}{{from, &c.FromSplit}, {to, &c.ToSplit}} {
		if f.text.Valid {
			if err := json.Unmarshal([]byte(f.text.String), f.into); err != nil {
				return fmt.Errorf("decode split: %w", err)
			}
		}
	}
	return nil
}

func intPtr(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}
