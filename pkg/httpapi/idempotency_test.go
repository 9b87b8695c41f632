package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func keyed(ev events.APIGatewayProxyRequest, key string) events.APIGatewayProxyRequest {
	return withHeader(ev, "Idempotency-Key", key)
}

func TestKeyedWritesRunOnce(t *testing.T) {
	f := newFixture(t)
	deploy := func(extra string) events.APIGatewayProxyRequest {
		return request("POST", "/v1/flows/research_agent/deployments", deployBody(extra))
	}

	t.Run("a repeated deploy gets the first answer byte for byte, marked replayed, and makes no second version", func(t *testing.T) {
		first := do(t, f.dev, keyed(deploy(""), "deploy-1"))
		if first.StatusCode != http.StatusCreated || first.Headers[httpapi.HeaderReplayed] != "" {
			t.Fatalf("first deploy: %d %v %s", first.StatusCode, first.Headers, first.Body)
		}
		// Same request, re-encoded with other whitespace: still the same request.
		reencoded := deploy("")
		reencoded.Body = strings.ReplaceAll(reencoded.Body, ": ", ":")
		again := do(t, f.dev, keyed(reencoded, "deploy-1"))
		if again.StatusCode != first.StatusCode || again.Body != first.Body || again.Headers["Location"] != first.Headers["Location"] {
			t.Errorf("repeat answered %d %v %s; want the first answer %d %v %s", again.StatusCode, again.Headers, again.Body, first.StatusCode, first.Headers, first.Body)
		}
		if again.Headers[httpapi.HeaderReplayed] != "true" {
			t.Errorf("repeat headers %v; want %s: true", again.Headers, httpapi.HeaderReplayed)
		}
		page := decode[registry.Page[registry.Deployment]](t, must(t, f.dev, request("GET", "/v1/flows/research_agent/deployments", ""), 200))
		if len(page.Items) != 1 {
			t.Errorf("%d versions after a repeated deploy, want 1", len(page.Items))
		}
	})
	t.Run("the same key with another body is idempotency_mismatch and changes nothing", func(t *testing.T) {
		before := f.state(t)
		msg := wantError(t, do(t, f.dev, keyed(deploy(`"description": "another"`), "deploy-1")), http.StatusUnprocessableEntity, registry.CodeIdempotencyMismatch)
		if !strings.Contains(msg, "Idempotency-Key") || !strings.Contains(msg, "new key") {
			t.Errorf("message %q does not say to send a new key", msg)
		}
		if after := f.state(t); after != before {
			t.Errorf("a refused request changed the project:\n%s\n%s", before, after)
		}
	})
	t.Run("the same key on another route is idempotency_mismatch", func(t *testing.T) {
		wantError(t, do(t, f.dev, keyed(request("POST", "/v1/flows/research_agent/tags/default/rollback", ""), "deploy-1")), http.StatusUnprocessableEntity, registry.CodeIdempotencyMismatch)
	})
	t.Run("the same key with another If-Match is idempotency_mismatch", func(t *testing.T) {
		put := func(ifMatch string) events.APIGatewayProxyRequest {
			return withHeaders(request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`),
				map[string]string{"Idempotency-Key": "tag-1", "If-Match": ifMatch})
		}
		must(t, f.dev, put("0"), http.StatusOK)
		wantError(t, do(t, f.dev, put("1")), http.StatusUnprocessableEntity, registry.CodeIdempotencyMismatch)
		if got := do(t, f.dev, put("0")); got.StatusCode != http.StatusOK || got.Headers[httpapi.HeaderReplayed] != "true" {
			t.Errorf("the first request again: %d %v; want its replayed 200", got.StatusCode, got.Headers)
		}
	})
	t.Run("a refusal (4xx) is kept and replayed too", func(t *testing.T) {
		del := keyed(request("DELETE", "/v1/flows/research_agent/deployments/1", ""), "delete-1")
		first := do(t, f.dev, del)
		wantError(t, first, http.StatusConflict, registry.CodeConflict)
		again := do(t, f.dev, del)
		if again.Body != first.Body || again.Headers[httpapi.HeaderReplayed] != "true" {
			t.Errorf("repeat %d %v %s; want the replayed 409", again.StatusCode, again.Headers, again.Body)
		}
	})
	t.Run("a key is scoped by principal: another caller's same key is another key", func(t *testing.T) {
		other := as(keyed(deploy(`"description": "another"`), "deploy-1"), "default", "producer", "ci")
		if got := do(t, f.dev, other); got.StatusCode != http.StatusCreated || got.Headers[httpapi.HeaderReplayed] != "" {
			t.Errorf("another principal's deploy with the same key: %d %v %s; want a new 201", got.StatusCode, got.Headers, got.Body)
		}
	})
	t.Run("a key that is empty, too long or not printable ASCII is refused naming the header", func(t *testing.T) {
		for _, key := range []string{"", strings.Repeat("k", 256), "ключ", "a\tb"} {
			msg := wantError(t, do(t, f.dev, keyed(deploy(""), key)), http.StatusBadRequest, registry.CodeInvalidArgument)
			if !strings.Contains(msg, "Idempotency-Key") {
				t.Errorf("key %q: message %q does not name the header", key, msg)
			}
		}
		if got := do(t, f.dev, keyed(deploy(`"tag": "k255"`), strings.Repeat("k", 255))); got.StatusCode != http.StatusCreated {
			t.Errorf("a 255-character key: %d %s; want 201", got.StatusCode, got.Body)
		}
	})
	t.Run("an invocation's key is checked the same way", func(t *testing.T) {
		wantError(t, do(t, f.dev, keyed(request("POST", "/v1/flows/research_agent/invocations", `{}`), "")), http.StatusBadRequest, registry.CodeInvalidArgument)
	})
}

// blockingStore is the real store with a PutTag that, when armed, signals
// entered and waits for release: a request held in progress.
type blockingStore struct {
	*dynamo.Store
	entered, release chan struct{}
	// failNext makes the next PutTag fail as an unreachable database does.
	failNext bool
}

func (s *blockingStore) PutTag(ctx context.Context, req registry.TagRequest) (registry.Tag, error) {
	if s.failNext {
		s.failNext = false
		return registry.Tag{}, registry.Errorf(registry.CodeUnavailable, "fake: the database is unreachable; retry")
	}
	if s.entered != nil {
		s.entered <- struct{}{}
		<-s.release
	}
	return s.Store.PutTag(ctx, req)
}

func TestKeyedWriteInProgressAndFailures(t *testing.T) {
	f := newFixture(t)
	must(t, f.dev, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), http.StatusCreated)
	put := keyed(request("PUT", "/v1/flows/research_agent/tags/stable", `{"version": 1, "exclusive": true}`), "move-1")

	t.Run("a repeat while the first is in progress is a conflict saying to retry shortly", func(t *testing.T) {
		bs := &blockingStore{Store: f.store, entered: make(chan struct{}), release: make(chan struct{})}
		h := httpapi.New(bs, httpapi.Config{Stacks: devStacks, Artifacts: artifactStore})
		done := make(chan events.APIGatewayProxyResponse)
		go func() {
			resp, _ := h.Handle(context.Background(), put)
			done <- resp
		}()
		<-bs.entered
		msg := wantError(t, do(t, h, put), http.StatusConflict, registry.CodeConflict)
		if !strings.Contains(msg, "in progress") || !strings.Contains(msg, "retry") {
			t.Errorf("message %q does not say the request is in progress and to retry", msg)
		}
		close(bs.release)
		if first := <-done; first.StatusCode != http.StatusOK {
			t.Fatalf("the first request: %d %s", first.StatusCode, first.Body)
		}
		if again := do(t, h, put); again.StatusCode != http.StatusOK || again.Headers[httpapi.HeaderReplayed] != "true" {
			t.Errorf("after it finished: %d %v; want the replayed 200", again.StatusCode, again.Headers)
		}
	})
	t.Run("a 5xx releases the key so a retry runs the write again", func(t *testing.T) {
		bs := &blockingStore{Store: f.store, failNext: true}
		h := httpapi.New(bs, httpapi.Config{Stacks: devStacks, Artifacts: artifactStore})
		retry := keyed(request("PUT", "/v1/flows/research_agent/tags/canary", `{"version": 1, "exclusive": true}`), "move-2")
		wantError(t, do(t, h, retry), http.StatusServiceUnavailable, registry.CodeUnavailable)
		got := do(t, h, retry)
		if got.StatusCode != http.StatusOK || got.Headers[httpapi.HeaderReplayed] != "" {
			t.Errorf("the retry: %d %v %s; want a fresh 200", got.StatusCode, got.Headers, got.Body)
		}
	})
}
