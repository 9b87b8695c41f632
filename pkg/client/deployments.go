package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// Deployments is the deployment API: deploy versions, read them, route
// tags to them, and invoke them. Get it from Client.Deployments.
type Deployments struct{ c *Client }

// Deployment is one saved version of a flow, bound to the client that read
// it so that Invoke runs exactly this version.
type Deployment struct {
	registry.Deployment
	c *Client
}

// Selector picks a deployment: a Tag or a Version (not both); neither means
// the default tag.
type Selector = registry.Selector

// Source names a deployment's bundle: Digest after CreateArtifact and
// UploadArtifact, or Archive inline (at most bundle.MaxInlineArchiveBytes).
// It is sent as an api.Source, with Archive in base64.
type Source struct {
	Digest  string
	Archive []byte
	Commit  string
	Dirty   bool
}

// DeployRequest is what Deploy sends as the body of
// POST /v1/flows/{flow}/deployments (an api.DeployRequest).
type DeployRequest struct {
	Entrypoint  string // path/to/file.py:function, relative to the project root
	Source      *Source
	Inputs      json.RawMessage
	InputSchema json.RawMessage
	Tag         string
	Exclusive   bool
	Stack       string
	Description string
	// Secrets names the project's flow secrets the version's runs get as
	// environment variables (Client.SetSecret stores them).
	Secrets []string
	// build is set by Build: the version gets no routing tag.
	build bool
}

// body is r on the wire; the archive is base64 as encoding/json writes a
// []byte.
func (r DeployRequest) body() api.DeployRequest {
	b := api.DeployRequest{
		Entrypoint: r.Entrypoint, Inputs: r.Inputs, InputSchema: r.InputSchema,
		Tag: r.Tag, Exclusive: r.Exclusive, Build: r.build, Stack: r.Stack, Description: r.Description, Secrets: r.Secrets,
	}
	if r.Source != nil {
		b.Source = &api.Source{Digest: r.Source.Digest, Commit: r.Source.Commit, Dirty: r.Source.Dirty}
		if len(r.Source.Archive) > 0 {
			b.Source.Archive = base64.StdEncoding.EncodeToString(r.Source.Archive)
		}
	}
	return b
}

// Deploy creates the next version of flow with the request's one routing
// tag (default when empty; the flow's first version also gets default). It
// is retried with one Idempotency-Key, so a retry whose first attempt
// committed returns that version rather than creating another. Errors:
// invalid_argument, unprocessable (a stack that cannot execute remotely),
// payload_too_large, permission_denied, conflict.
func (d *Deployments) Deploy(ctx context.Context, flow string, req DeployRequest) (Deployment, error) {
	return d.one(ctx, call{method: http.MethodPost, path: flowPath(flow, "/deployments"), body: req.body(), keyed: true, route: changedRoute(flow, req.Tag)})
}

// List returns one page of flow's versions, newest first. Errors:
// not_found, invalid_argument.
func (d *Deployments) List(ctx context.Context, flow string, opts ListOptions) (Page[Deployment], error) {
	p, err := list[registry.Deployment](ctx, d.c, flowPath(flow, "/deployments"), opts)
	if err != nil {
		return Page[Deployment]{}, err
	}
	out := Page[Deployment]{Items: make([]Deployment, len(p.Items)), NextToken: p.NextToken}
	for i, dep := range p.Items {
		out.Items[i] = Deployment{dep, d.c}
	}
	return out, nil
}

// Get returns one version of flow. Errors: not_found, invalid_argument.
func (d *Deployments) Get(ctx context.Context, flow string, version int) (Deployment, error) {
	return d.one(ctx, call{method: http.MethodGet, path: versionPath(flow, "/deployments/", version, ""), idempotent: true})
}

// Resolve returns the deployment sel names right now; a zero Selector
// resolves the default tag. Errors: not_found (no deployments, no such tag
// or version, nothing routed as default), conflict (a shared tag on several
// versions), invalid_argument (both a tag and a version). A split tag picks
// one of its versions by weight; sel.StickyKey makes the pick stable.
func (d *Deployments) Resolve(ctx context.Context, flow string, sel Selector) (Deployment, error) {
	res, err := d.resolve(ctx, flow, sel)
	if err != nil {
		return Deployment{}, err
	}
	return Deployment{res.Deployment, d.c}, nil
}

// resolve is Resolve's whole answer, the route it read included.
func (d *Deployments) resolve(ctx context.Context, flow string, sel Selector) (registry.Resolution, error) {
	q := url.Values{}
	if sel.Tag != "" {
		q.Set("tag", sel.Tag)
	}
	if sel.Version != 0 {
		q.Set("version", strconv.Itoa(sel.Version))
	}
	if sel.StickyKey != "" {
		q.Set("sticky_key", sel.StickyKey)
	}
	return fetch[registry.Resolution](ctx, d.c, call{method: http.MethodGet, path: flowPath(flow, "/resolve"), query: q, idempotent: true, route: tagRoute(flow, sel)})
}

// Delete deletes one version; the shared tags it holds leave with it.
// Errors: not_found, conflict (it holds an exclusive tag such as default:
// move the tag first), permission_denied.
func (d *Deployments) Delete(ctx context.Context, flow string, version int) error {
	return d.c.do(ctx, call{method: http.MethodDelete, path: versionPath(flow, "/deployments/", version, ""), keyed: true}, nil)
}

// TagOptions qualifies a tag change.
type TagOptions struct {
	// Exclusive moves the tag to the version (default is always exclusive);
	// otherwise the tag is shared and added alongside its other versions.
	Exclusive bool
	// IfRevision makes the change conditional on the tag's revision as last
	// read (registry.Tag.Revision); precondition_failed when it changed.
	IfRevision *int64
}

// Tag points tag at version (PUT /v1/flows/{flow}/tags/{tag}) and returns
// the tag after the change. Errors: not_found, conflict (an exclusive tag
// used as shared or the reverse), precondition_failed, invalid_argument,
// permission_denied.
func (d *Deployments) Tag(ctx context.Context, flow, tag string, version int, opts TagOptions) (registry.Tag, error) {
	body := api.TagRequest{Version: &version}
	if opts.Exclusive {
		body.Exclusive = &opts.Exclusive
	}
	return fetch[registry.Tag](ctx, d.c, call{method: http.MethodPut, path: tagPath(flow, tag, ""), header: ifMatch(opts.IfRevision), body: body, keyed: true, route: changedRoute(flow, tag)})
}

// Split points the exclusive tag at 2 to 8 versions by weight (version →
// weight, summing to 100), as one route change; opts.Exclusive is implied
// and ignored. A later Tag to one version collapses the split, and Rollback
// restores it. Errors: invalid_argument (invalid weights), not_found (a
// version), conflict (a shared tag, or superseded), precondition_failed,
// permission_denied.
func (d *Deployments) Split(ctx context.Context, flow, tag string, split registry.Split, opts TagOptions) (registry.Tag, error) {
	body := api.TagRequest{Split: split}
	return fetch[registry.Tag](ctx, d.c, call{method: http.MethodPut, path: tagPath(flow, tag, ""), header: ifMatch(opts.IfRevision), body: body, keyed: true, route: changedRoute(flow, tag)})
}

// Untag removes tag from version. Errors: not_found, conflict (default
// cannot be removed: move it instead), permission_denied.
func (d *Deployments) Untag(ctx context.Context, flow, tag string, version int) error {
	q := url.Values{"version": {strconv.Itoa(version)}}
	return d.c.do(ctx, call{method: http.MethodDelete, path: tagPath(flow, tag, ""), query: q, keyed: true, route: changedRoute(flow, tag)}, nil)
}

// Rollback moves an exclusive tag back to the version it pointed at before
// its last change. It is retried with one Idempotency-Key, so a retry whose
// first attempt committed does not roll back a second time. Errors:
// not_found, conflict (a shared tag, nothing to roll back to, or the
// previous version was deleted), permission_denied.
func (d *Deployments) Rollback(ctx context.Context, flow, tag string) (registry.Tag, error) {
	return fetch[registry.Tag](ctx, d.c, call{method: http.MethodPost, path: tagPath(flow, tag, "/rollback"), keyed: true, route: changedRoute(flow, tag)})
}

// History returns one page of tag's route changes, newest first. Errors:
// not_found, invalid_argument.
func (d *Deployments) History(ctx context.Context, flow, tag string, opts ListOptions) (Page[registry.RouteChange], error) {
	return list[registry.RouteChange](ctx, d.c, tagPath(flow, tag, "/history"), opts)
}

// InvokeOptions says which deployment to run and with what.
type InvokeOptions struct {
	// Selector picks the deployment for Deployments.Invoke; zero is the
	// default tag. Deployment.Invoke ignores it and runs its own version.
	Selector Selector
	// Inputs override the deployment's inputs key by key; they are encoded
	// with encoding/json and must match the deployment's input schema.
	// Nil keeps the deployment's inputs.
	Inputs map[string]any
	// IdempotencyKey, when set, makes the same key on the same flow return
	// the same execution for 24 hours (and the same key with other inputs or
	// another selector an idempotency_mismatch error). Empty sends a fresh
	// key for this call, so its retries never start a second execution.
	IdempotencyKey string
}

// invokeRequest is the body of both invocation routes: sel's tag or
// version and the inputs encoded as encoding/json would inline them (none
// when empty).
func invokeRequest(sel Selector, inputs map[string]any) (api.InvokeRequest, error) {
	body := api.InvokeRequest{Tag: sel.Tag, StickyKey: sel.StickyKey}
	if sel.Version != 0 {
		body.Version = &sel.Version
	}
	if len(inputs) > 0 {
		raw, err := json.Marshal(inputs)
		if err != nil {
			return api.InvokeRequest{}, fmt.Errorf("encode the inputs: %w", err)
		}
		body.Inputs = raw
	}
	return body, nil
}

// Invoke starts an execution of the deployment opts.Selector names and
// returns its handle. Errors: not_found, conflict (an ambiguous shared
// tag), invalid_argument, unprocessable (inputs that do not match the
// schema, or a stack that cannot execute remotely).
func (d *Deployments) Invoke(ctx context.Context, flow string, opts InvokeOptions) (*Handle, error) {
	body, err := invokeRequest(opts.Selector, opts.Inputs)
	if err != nil {
		return nil, err
	}
	return d.c.invoke(ctx, flowPath(flow, "/invocations"), body, opts.IdempotencyKey, tagRoute(flow, opts.Selector))
}

// Invoke starts an execution of exactly this version, whatever the tags
// say now (POST /v1/flows/{flow}/versions/{version}/invocations);
// opts.Selector is ignored. Errors: as Deployments.Invoke, and not_found
// when the version was deleted.
func (d Deployment) Invoke(ctx context.Context, opts InvokeOptions) (*Handle, error) {
	if d.c == nil {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "deployment %s v%d has no client: get it from Client.Deployments()", d.Flow, d.Version)
	}
	body, err := invokeRequest(Selector{}, opts.Inputs)
	if err != nil {
		return nil, err
	}
	return d.c.invoke(ctx, versionPath(d.Flow, "/versions/", d.Version, "/invocations"), body, opts.IdempotencyKey, nil)
}

// invoke posts an invocation with key, or a fresh key, on every attempt.
func (c *Client) invoke(ctx context.Context, path string, body api.InvokeRequest, key string, route *routeRef) (*Handle, error) {
	r := call{method: http.MethodPost, path: path, body: body, keyed: true, route: route}
	if key != "" {
		r.header = http.Header{HeaderIdempotencyKey: {key}}
	}
	replayed := false
	r.answered = func(attempt int, resp *http.Response) {
		// Only a first attempt tells: a retry's replay may be of this
		// call's own first attempt, whose answer was lost.
		replayed = attempt == 1 && (resp.Header.Get(headerReplayed) == "true" || resp.StatusCode == http.StatusOK)
	}
	e, err := fetch[registry.Execution](ctx, c, r)
	if err != nil {
		return nil, err
	}
	return &Handle{ExecID: e.ExecID, Execution: e, Replayed: replayed, c: c}, nil
}

// one sends r and binds the deployment it answers to the client.
func (d *Deployments) one(ctx context.Context, r call) (Deployment, error) {
	dep, err := fetch[registry.Deployment](ctx, d.c, r)
	if err != nil {
		return Deployment{}, err
	}
	return Deployment{dep, d.c}, nil
}

// ifMatch is the If-Match header of a conditional tag change.
func ifMatch(rev *int64) http.Header {
	if rev == nil {
		return nil
	}
	return http.Header{"If-Match": {strconv.FormatInt(*rev, 10)}}
}

// versionPath is /v1/flows/{flow}{middle}{version}{rest}.
func versionPath(flow, middle string, version int, rest string) string {
	return flowPath(flow, fmt.Sprintf("%s%d%s", middle, version, rest))
}

// tagPath is /v1/flows/{flow}/tags/{tag}{rest}.
func tagPath(flow, tag, rest string) string {
	return flowPath(flow, "/tags/"+url.PathEscape(tag)+rest)
}
