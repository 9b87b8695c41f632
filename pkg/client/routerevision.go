package client

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/kitaru/deployments/pkg/registry"
)

// routeRef names the tag a call changes or resolves, for read-your-writes
// (docs/route-cache.md): a change's answer carries the tag's revision in
// Kitaru-Route-Revision, and this client sends the highest it was answered
// with every later resolve or invoke of that tag, so it never reads a route
// older than its own change from a server's route cache.
type routeRef struct {
	flow, tag string
	// change is true for calls that change the route (their answers carry
	// the revision), false for those that read it (they send it).
	change bool
}

// tagRoute is the route a selector reads; nil for a version, which no
// cache serves.
func tagRoute(flow string, sel Selector) *routeRef {
	if sel.Version != 0 {
		return nil
	}
	tag := sel.Tag
	if tag == "" {
		tag = registry.DefaultTag
	}
	return &routeRef{flow: flow, tag: tag}
}

// changedRoute is the route a change of tag on flow answers the revision of.
func changedRoute(flow, tag string) *routeRef {
	if tag == "" {
		tag = registry.DefaultTag
	}
	return &routeRef{flow: flow, tag: tag, change: true}
}

// changedFlow is the route of every tag of flow, whose revision a flow
// delete answers: one above any its tags had before the delete.
func changedFlow(flow string) *routeRef {
	return &routeRef{flow: flow, tag: everyTag, change: true}
}

// everyTag is the tag of a revision that holds for every tag of a flow.
const everyTag = ""

// RouteRevisions holds the highest route revision a client was answered
// per flow and tag, and per flow for every tag (a flow delete's). Each
// Client has its own; clients made one per call (the MCP server's) share
// one with SetRouteRevisions, so a change made through one is read through
// the next. The zero value is empty and ready.
type RouteRevisions struct {
	// OnChange, when set before the client is used, is told each revision
	// a change of flow's tag was answered with; a CLI keeps them for its
	// next commands (RevisionFile).
	OnChange func(flow, tag string, revision int64)

	mu   sync.Mutex
	seen map[[2]string]int64
}

// Remember keeps revision for flow's tag as if a change had been answered
// with it: what an earlier process was answered.
func (rr *RouteRevisions) Remember(flow, tag string, revision int64) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	key := [2]string{flow, tag}
	if revision > rr.seen[key] {
		if rr.seen == nil {
			rr.seen = map[[2]string]int64{}
		}
		rr.seen[key] = revision
	}
}

// attach returns r's headers with the revision r's route must not be older
// than, when r reads a route this client changed.
func (rr *RouteRevisions) attach(r call) http.Header {
	if r.route == nil || r.route.change {
		return r.header
	}
	rr.mu.Lock()
	rev, ok := rr.seen[[2]string{r.route.flow, r.route.tag}]
	if flowRev, flowOK := rr.seen[[2]string{r.route.flow, everyTag}]; flowOK && flowRev > rev {
		rev, ok = flowRev, true
	}
	rr.mu.Unlock()
	if !ok {
		return r.header
	}
	h := r.header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(registry.HeaderRouteRevision, strconv.FormatInt(rev, 10))
	return h
}

// note keeps the revision a change of r's route was answered with.
func (rr *RouteRevisions) note(r call, resp *http.Response) {
	if r.route == nil || !r.route.change || resp == nil {
		return
	}
	rev, err := strconv.ParseInt(resp.Header.Get(registry.HeaderRouteRevision), 10, 64)
	if err != nil {
		return // an older server, or a change that reported none
	}
	rr.Remember(r.route.flow, r.route.tag, rev)
	if rr.OnChange != nil {
		rr.OnChange(r.route.flow, r.route.tag, rev)
	}
}

// SetRouteRevisions makes c keep and send route revisions in rr, shared
// with other clients, instead of its own. Call it before c is used.
func (c *Client) SetRouteRevisions(rr *RouteRevisions) { c.routes = rr }
