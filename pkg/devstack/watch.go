package devstack

import (
	"context"
	"sync/atomic"

	"github.com/kitaru/deployments/pkg/execwatch"
	"github.com/kitaru/deployments/pkg/registry"
)

// notifyingStore is the registry store whose every recorded outcome — a
// run's finish, a cancel, a failed start, the reaper — wakes the waiters
// of GET /v1/executions/{id}?wait= at once. It notifies after the write,
// and a waiter registers before it reads, so no outcome is missed.
type notifyingStore struct {
	Store
	hub *execwatch.Hub
	// published, when set, is called after each notification (benchmarks
	// measure from that moment).
	published atomic.Pointer[func(project, execID string)]
}

func newNotifyingStore(s Store) *notifyingStore {
	return &notifyingStore{Store: s, hub: execwatch.NewHub(s)}
}

// FinishExecution records o, then wakes the execution's waiters.
func (s *notifyingStore) FinishExecution(ctx context.Context, project, execID string, o registry.Outcome) (registry.Execution, bool, error) {
	e, finished, err := s.Store.FinishExecution(ctx, project, execID, o)
	if err == nil {
		s.notify(project, execID)
	}
	return e, finished, err
}

// ReapExecution records the reaper's outcome, then wakes the execution's waiters.
func (s *notifyingStore) ReapExecution(ctx context.Context, found registry.Execution, o registry.Outcome) (registry.Execution, bool, error) {
	e, reaped, err := s.Store.ReapExecution(ctx, found, o)
	if err == nil {
		s.notify(found.Project, found.ExecID)
	}
	return e, reaped, err
}

func (s *notifyingStore) notify(project, execID string) {
	s.hub.Notify(project, execID)
	if f := s.published.Load(); f != nil {
		(*f)(project, execID)
	}
}
