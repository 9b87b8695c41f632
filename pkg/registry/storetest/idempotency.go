package storetest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/registry"
)

// fakeClock is a settable clock for lease and expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func claimOf(key, fingerprint, token string) registry.IdempotencyClaim {
	return registry.IdempotencyClaim{Project: project, Principal: "tester", Key: key, Fingerprint: fingerprint, Token: token}
}

func testIdempotencyRecords(t *testing.T, f *fixture) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	s := open(t, f.engine, clock.now).store
	answer := registry.StoredResponse{Status: 201, Body: "{\"version\":1}\n", Headers: map[string]string{"Location": "/v1/flows/f/deployments/1", "Content-Type": "application/json"}}

	t.Run("a free key is claimed, and its completed answer is replayed to the same request", func(t *testing.T) {
		c := claimOf("k1", "fp-a", "t1")
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, c); err != nil || !claimed {
			t.Fatalf("claim: claimed=%v, %v", claimed, err)
		}
		if err := s.CompleteIdempotencyKey(ctx, c, answer); err != nil {
			t.Fatal(err)
		}
		prior, claimed, err := s.ClaimIdempotencyKey(ctx, claimOf("k1", "fp-a", "t2"))
		if err != nil || claimed {
			t.Fatalf("repeat: claimed=%v, %v; want the stored answer", claimed, err)
		}
		prior.CreatedAt = time.Time{}
		if diff := cmp.Diff(answer, prior); diff != "" {
			t.Errorf("replayed answer (-want +got):\n%s", diff)
		}
	})
	t.Run("the same key with another fingerprint is idempotency_mismatch", func(t *testing.T) {
		_, _, err := s.ClaimIdempotencyKey(ctx, claimOf("k1", "fp-b", "t3"))
		wantCode(t, err, registry.CodeIdempotencyMismatch, "Idempotency-Key", "new key")
	})
	t.Run("keys are scoped by principal and by project", func(t *testing.T) {
		other := claimOf("k1", "fp-b", "t4")
		other.Principal = "someone-else"
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, other); err != nil || !claimed {
			t.Errorf("another principal's key: claimed=%v, %v", claimed, err)
		}
		other = claimOf("k1", "fp-b", "t5")
		other.Project = "proj2"
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, other); err != nil || !claimed {
			t.Errorf("another project's key: claimed=%v, %v", claimed, err)
		}
	})
	t.Run("a repeat while the claim is in progress is a conflict saying to retry shortly", func(t *testing.T) {
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, claimOf("k2", "fp-a", "t1")); err != nil || !claimed {
			t.Fatalf("claim: claimed=%v, %v", claimed, err)
		}
		_, _, err := s.ClaimIdempotencyKey(ctx, claimOf("k2", "fp-a", "t2"))
		wantCode(t, err, registry.CodeConflict, "in progress", "retry")
		t.Run("while a different request with it is a mismatch", func(t *testing.T) {
			_, _, err := s.ClaimIdempotencyKey(ctx, claimOf("k2", "fp-b", "t3"))
			wantCode(t, err, registry.CodeIdempotencyMismatch)
		})
		t.Run("the claimant's own claim sent again is still its claim", func(t *testing.T) {
			if _, claimed, err := s.ClaimIdempotencyKey(ctx, claimOf("k2", "fp-a", "t1")); err != nil || !claimed {
				t.Errorf("re-sent claim: claimed=%v, %v", claimed, err)
			}
		})
	})
	t.Run("an expired lease is taken over, and the old holder can no longer complete or release", func(t *testing.T) {
		old := claimOf("k3", "fp-a", "old")
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, old); err != nil || !claimed {
			t.Fatalf("claim: claimed=%v, %v", claimed, err)
		}
		clock.advance(registry.IdempotencyLease + time.Second)
		taker := claimOf("k3", "fp-a", "new")
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, taker); err != nil || !claimed {
			t.Fatalf("takeover: claimed=%v, %v", claimed, err)
		}
		if err := s.CompleteIdempotencyKey(ctx, old, registry.StoredResponse{Status: 200, Body: "old"}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseIdempotencyKey(ctx, old); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.ClaimIdempotencyKey(ctx, claimOf("k3", "fp-a", "third"))
		wantCode(t, err, registry.CodeConflict, "in progress")
		if err := s.CompleteIdempotencyKey(ctx, taker, registry.StoredResponse{Status: 200, Body: "new"}); err != nil {
			t.Fatal(err)
		}
		if prior, claimed, err := s.ClaimIdempotencyKey(ctx, claimOf("k3", "fp-a", "fourth")); err != nil || claimed || prior.Body != "new" {
			t.Errorf("after the new holder completed: %+v claimed=%v, %v; want its answer", prior, claimed, err)
		}
	})
	t.Run("an expired lease of another request is not taken over by a mismatching one", func(t *testing.T) {
		if _, _, err := s.ClaimIdempotencyKey(ctx, claimOf("k4", "fp-a", "t1")); err != nil {
			t.Fatal(err)
		}
		clock.advance(registry.IdempotencyLease + time.Second)
		_, _, err := s.ClaimIdempotencyKey(ctx, claimOf("k4", "fp-b", "t2"))
		wantCode(t, err, registry.CodeIdempotencyMismatch)
	})
	t.Run("a released key is claimed again", func(t *testing.T) {
		c := claimOf("k5", "fp-a", "t1")
		if _, _, err := s.ClaimIdempotencyKey(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseIdempotencyKey(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, claimOf("k5", "fp-b", "t2")); err != nil || !claimed {
			t.Errorf("after release: claimed=%v, %v", claimed, err)
		}
	})
	t.Run("a completed record expires after the window, even where TTL never deletes it", func(t *testing.T) {
		c := claimOf("k6", "fp-a", "t1")
		if _, _, err := s.ClaimIdempotencyKey(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteIdempotencyKey(ctx, c, answer); err != nil {
			t.Fatal(err)
		}
		clock.advance(registry.IdempotencyWindow + time.Second)
		if _, claimed, err := s.ClaimIdempotencyKey(ctx, claimOf("k6", "fp-b", "t2")); err != nil || !claimed {
			t.Errorf("after 24 h: claimed=%v, %v; want a fresh claim", claimed, err)
		}
	})
	t.Run("a large answer is kept compressed and replayed exactly", func(t *testing.T) {
		c := claimOf("k7", "fp-a", "t1")
		if _, _, err := s.ClaimIdempotencyKey(ctx, c); err != nil {
			t.Fatal(err)
		}
		big := registry.StoredResponse{Status: 201, Body: `{"inputs":"` + strings.Repeat("durable ", 60_000) + `"}`}
		if err := s.CompleteIdempotencyKey(ctx, c, big); err != nil {
			t.Fatal(err)
		}
		prior, _, err := s.ClaimIdempotencyKey(ctx, claimOf("k7", "fp-a", "t2"))
		if err != nil || prior.Body != big.Body || prior.Status != 201 {
			t.Errorf("replay of a %d-byte answer: %d bytes, status %d, %v", len(big.Body), len(prior.Body), prior.Status, err)
		}
	})
	t.Run("a claim without a valid key is refused", func(t *testing.T) {
		_, _, err := s.ClaimIdempotencyKey(ctx, claimOf(strings.Repeat("k", 256), "fp", "t"))
		wantCode(t, err, registry.CodeInvalidArgument, "Idempotency-Key")
	})
}

func testInvocationKeysNameTheirRequest(t *testing.T, f *fixture) {
	first := runningExec(project, "keyed", "order-1")
	first.RequestFingerprint = "fp-a"
	createExec(t, f.store, first)

	t.Run("the same key and request returns the first execution", func(t *testing.T) {
		again := runningExec(project, "keyed", "order-1")
		again.RequestFingerprint = "fp-a"
		got, created, err := f.store.CreateExecution(ctx, again)
		if err != nil || created || got.ExecID != first.ExecID {
			t.Fatalf("got %s created=%v, %v; want %s replayed", got.ExecID, created, err, first.ExecID)
		}
	})
	t.Run("the same key with another request is idempotency_mismatch and records nothing", func(t *testing.T) {
		other := runningExec(project, "keyed", "order-1")
		other.RequestFingerprint = "fp-b"
		_, _, err := f.store.CreateExecution(ctx, other)
		wantCode(t, err, registry.CodeIdempotencyMismatch, "Idempotency-Key", first.ExecID)
		if _, err := f.store.GetExecution(ctx, project, other.ExecID); registry.CodeOf(err) != registry.CodeNotFound {
			t.Errorf("the refused execution was recorded: %v", err)
		}
	})
	t.Run("a key stored without a fingerprint matches any request", func(t *testing.T) {
		legacy := runningExec(project, "keyed", "order-2")
		createExec(t, f.store, legacy)
		again := runningExec(project, "keyed", "order-2")
		again.RequestFingerprint = "fp-b"
		if got, created, err := f.store.CreateExecution(ctx, again); err != nil || created || got.ExecID != legacy.ExecID {
			t.Errorf("got %s created=%v, %v; want %s replayed", got.ExecID, created, err, legacy.ExecID)
		}
	})
}
