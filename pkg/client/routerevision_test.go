package client_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// revisionServer answers every change with the next revision in
// Kitaru-Route-Revision (its list, in order) and records the header each
// request sent.
type revisionServer struct {
	*httptest.Server
	mu        sync.Mutex
	revisions []string
	sent      []string
}

func newRevisionServer(t *testing.T, revisions ...string) *revisionServer {
	s := &revisionServer{revisions: revisions}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sent = append(s.sent, r.Header.Get(registry.HeaderRouteRevision))
		if r.Method != http.MethodGet && len(s.revisions) > 0 && r.URL.Path != "/v1/flows/agent/invocations" {
			w.Header().Set(registry.HeaderRouteRevision, s.revisions[0])
			s.revisions = s.revisions[1:]
		}
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusOK
		if r.Method == http.MethodDelete && r.URL.Path != "/v1/flows/agent" {
			status = http.StatusNoContent // an untag; a flow delete answers what it removed
		}
		w.WriteHeader(status)
		if status == http.StatusOK {
			io.WriteString(w, `{"exec_id": "ex_01j00000000000000000000000"}`)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *revisionServer) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[len(s.sent)-1]
}

func TestTheClientSendsBackTheHighestRouteRevisionOfItsOwnChanges(t *testing.T) {
	ctx := context.Background()
	srv := newRevisionServer(t, "7", "5", "9", "3", "12")
	c := newClient(t, srv.URL)
	d := c.Deployments()
	resolve := func(flow string, sel client.Selector) func() error {
		return func() error { _, err := d.Resolve(ctx, flow, sel); return err }
	}
	invoke := func(sel client.Selector) func() error {
		return func() error { _, err := d.Invoke(ctx, "agent", client.InvokeOptions{Selector: sel}); return err }
	}
	steps := []struct {
		name string
		call func() error
		want string // the header the call sent
	}{
		{"a resolve before any change sends none", resolve("agent", client.Selector{Tag: "stable"}), ""},
		{"a move is answered 7", func() error {
			_, err := d.Tag(ctx, "agent", "stable", 2, client.TagOptions{Exclusive: true})
			return err
		}, ""},
		{"a resolve of the moved tag sends 7", resolve("agent", client.Selector{Tag: "stable"}), "7"},
		{"an invoke of the moved tag sends 7", invoke(client.Selector{Tag: "stable"}), "7"},
		{"a resolve of another tag sends none", resolve("agent", client.Selector{}), ""},
		{"a resolve of the tag on another flow sends none", resolve("other", client.Selector{Tag: "stable"}), ""},
		{"a resolve by version sends none", resolve("agent", client.Selector{Version: 2}), ""},
		{"a rollback answered a lower 5 (a reordered answer)", func() error {
			_, err := d.Rollback(ctx, "agent", "stable")
			return err
		}, ""},
		{"the highest revision is kept", resolve("agent", client.Selector{Tag: "stable"}), "7"},
		{"a deploy without a tag is answered 9 for default", func() error {
			_, err := d.Deploy(ctx, "agent", client.DeployRequest{Entrypoint: "flows/agent.py:agent"})
			return err
		}, ""},
		{"a resolve of default sends 9", resolve("agent", client.Selector{}), "9"},
		{"an untag is answered 3 and changes nothing kept", func() error { return d.Untag(ctx, "agent", "stable", 2) }, ""},
		{"the tag still sends 7", invoke(client.Selector{Tag: "stable"}), "7"},
		{"a flow delete is answered 12, for every tag of the flow", func() error {
			_, err := c.DeleteFlow(ctx, "agent", client.DeleteFlowOptions{Force: true})
			return err
		}, ""},
		{"a resolve of the tag sends 12", resolve("agent", client.Selector{Tag: "stable"}), "12"},
		{"a resolve of a tag never changed here sends 12", resolve("agent", client.Selector{Tag: "nightly"}), "12"},
		{"a resolve on another flow sends none", resolve("other", client.Selector{Tag: "stable"}), ""},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := srv.last(); got != s.want {
			t.Fatalf("%s: sent %s %q, want %q", s.name, registry.HeaderRouteRevision, got, s.want)
		}
	}
}

// The MCP server makes a client per tool call; they share one memory of
// route revisions, so a move by one call is read at once by the next.
func TestClientsSharingRouteRevisionsSendBackEachOthersChanges(t *testing.T) {
	ctx := context.Background()
	srv := newRevisionServer(t, "4")
	shared := &client.RouteRevisions{}
	mover, reader := newClient(t, srv.URL), newClient(t, srv.URL)
	mover.SetRouteRevisions(shared)
	reader.SetRouteRevisions(shared)
	if _, err := mover.Deployments().Tag(ctx, "agent", "stable", 2, client.TagOptions{Exclusive: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Deployments().Resolve(ctx, "agent", client.Selector{Tag: "stable"}); err != nil {
		t.Fatal(err)
	}
	if got := srv.last(); got != "4" {
		t.Fatalf("the second client sent %s %q, want the first's \"4\"", registry.HeaderRouteRevision, got)
	}
}
