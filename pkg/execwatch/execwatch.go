// Package execwatch holds a read of an execution until the execution ends or
// a deadline passes, for GET /v1/executions/{id}?wait=: a Hub where every
// outcome is recorded in the same process (kitaru dev), which wakes its
// waiters the moment an outcome is recorded, and a Poller where outcomes are
// recorded elsewhere (the Lambda functions), which re-reads the record with
// backoff.
package execwatch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Reader reads execution records; registry.ExecutionStore is one.
type Reader interface {
	// GetExecution returns one execution, read consistently. Errors: not_found.
	GetExecution(ctx context.Context, project, execID string) (registry.Execution, error)
}

// Hub is the in-process notifier: whatever records an outcome calls Notify,
// and the waiters on that execution wake at once, without polling. A waiter
// registers before it reads the status, so an outcome recorded between the
// read and the wait still wakes it.
type Hub struct {
	reader Reader

	mu      sync.Mutex
	waiters map[execKey]map[chan struct{}]struct{}
}

type execKey struct{ project, execID string }

// NewHub returns a Hub that reads executions from r.
func NewHub(r Reader) *Hub {
	return &Hub{reader: r, waiters: map[execKey]map[chan struct{}]struct{}{}}
}

// Notify wakes every waiter on the execution. Call it after the outcome is
// stored, so that a woken waiter reads it.
func (h *Hub) Notify(project, execID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.waiters[execKey{project, execID}] {
		select {
		case ch <- struct{}{}:
		default: // already signalled
		}
	}
}

// Wait returns the execution once it is not running, or as it is at until;
// when ctx ends first, ctx's error. Errors: those of Reader.GetExecution.
func (h *Hub) Wait(ctx context.Context, project, execID string, until time.Time) (registry.Execution, error) {
	ch := h.register(execKey{project, execID})
	defer h.unregister(execKey{project, execID}, ch)
	e, err := h.reader.GetExecution(ctx, project, execID)
	if err != nil || e.Status.Terminal() {
		return e, ended(ctx, execID, err)
	}
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return e, fmt.Errorf("wait for execution %s: %w", execID, context.Cause(ctx))
	case <-timer.C:
	case <-ch:
	}
	e, err = h.reader.GetExecution(ctx, project, execID)
	return e, ended(ctx, execID, err)
}

// ended is err, or ctx's end when ctx ended while the read was under way
// (the store reports that as its own error, not as the context's).
func ended(ctx context.Context, execID string, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("wait for execution %s: %w", execID, context.Cause(ctx))
	}
	return err
}

func (h *Hub) register(k execKey) chan struct{} {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters[k] == nil {
		h.waiters[k] = map[chan struct{}]struct{}{}
	}
	h.waiters[k][ch] = struct{}{}
	return ch
}

func (h *Hub) unregister(k execKey, ch chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.waiters[k], ch)
	if len(h.waiters[k]) == 0 {
		delete(h.waiters, k)
	}
}

// Waiting is how many waiters are registered, for tests and diagnostics.
func (h *Hub) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.waiters {
		n += len(set)
	}
	return n
}

// Backoff of Poller: the first pause between reads and its cap; each pause
// doubles.
const (
	DefaultPollStart = 50 * time.Millisecond
	DefaultPollMax   = time.Second
)

// Poller waits by re-reading the record, for a process that does not record
// the outcomes itself (the invoke function: the finish function records
// them). Its reads are consistent GetItems, one per pause.
type Poller struct {
	Reader Reader
	// Start is the first pause; zero is DefaultPollStart.
	Start time.Duration
	// Max caps the pause; zero is DefaultPollMax.
	Max time.Duration
}

// Wait returns the execution once it is not running, or as it is at until
// (the last read is made then); when ctx ends first, ctx's error.
// Errors: those of Reader.GetExecution.
func (p Poller) Wait(ctx context.Context, project, execID string, until time.Time) (registry.Execution, error) {
	pause, maxPause := p.Start, p.Max
	if pause <= 0 {
		pause = DefaultPollStart
	}
	if maxPause <= 0 {
		maxPause = DefaultPollMax
	}
	for {
		e, err := p.Reader.GetExecution(ctx, project, execID)
		left := time.Until(until)
		if err != nil || e.Status.Terminal() || left <= 0 {
			return e, ended(ctx, execID, err)
		}
		timer := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return e, fmt.Errorf("wait for execution %s: %w", execID, context.Cause(ctx))
		case <-timer.C:
		}
		pause = min(2*pause, maxPause)
	}
}
