package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

// blockingArtifacts stands in for a bundle check that runs long: it returns
// only when the request's context ends, and reports that it did.
type blockingArtifacts struct {
	httpapi.Artifacts
	ended chan error
}

func (b blockingArtifacts) SaveArchive(ctx context.Context, _ string, _ []byte, _ string) (registry.Source, error) {
	<-ctx.Done()
	b.ended <- ctx.Err()
	return registry.Source{}, ctx.Err()
}

// fakeGuard leases every bundle at once, whatever the request's context
// says, so the bundle check above is where the request waits.
type fakeGuard struct{ registry.BundleGuard }

func (fakeGuard) LeaseBundle(context.Context, string, string, time.Time) error { return nil }
func (fakeGuard) ReleaseBundle(context.Context, string, string) error          { return nil }

// TestNoRequestOutlivesItsClient is issue #12 item 3: a deploy ran for 60 s
// after its client left, and ended in a 500.
func TestNoRequestOutlivesItsClient(t *testing.T) {
	f := newFixture(t)
	t.Run("the default deadline is below API Gateway's 29 s", func(t *testing.T) {
		if httpapi.DefaultRequestTimeout >= 29*time.Second {
			t.Errorf("DefaultRequestTimeout = %v", httpapi.DefaultRequestTimeout)
		}
	})
	t.Run("work past the deadline is cancelled and answered 503", func(t *testing.T) {
		ended := make(chan error, 1)
		h := httpapi.New(f.store, httpapi.Config{Stacks: devStacks, Artifacts: blockingArtifacts{ended: ended}, BundleGuard: fakeGuard{}, RequestTimeout: time.Millisecond})
		resp, err := h.Handle(context.Background(), request("POST", "/v1/flows/research_agent/deployments", deployBody("")))
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("status %d %s; want 503", resp.StatusCode, resp.Body)
		}
		if err := <-ended; err != context.DeadlineExceeded {
			t.Errorf("the work ended with %v; want the deadline", err)
		}
	})
	t.Run("a client that goes away cancels the work", func(t *testing.T) {
		ended := make(chan error, 1)
		h := httpapi.New(f.store, httpapi.Config{Stacks: devStacks, Artifacts: blockingArtifacts{ended: ended}, BundleGuard: fakeGuard{}})
		ctx, leave := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.Handle(ctx, request("POST", "/v1/flows/research_agent/deployments", deployBody("")))
		}()
		leave()
		if err := <-ended; err != context.Canceled {
			t.Errorf("the work ended with %v; want cancelled", err)
		}
		<-done
	})
}
