package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Executions is the execution API: follow, list and cancel the runs that
// invocations start. Get it from Client.Executions.
type Executions struct{ c *Client }

// Waiting: each GET /v1/executions/{id}?wait= asks the server to hold the
// answer up to maxHold (Follow: followHold, so progress shows), and a
// server that answers sooner while the execution runs (one that predates
// ?wait=) is asked again only after a pause, from pollStart growing
// pollFactor× to pollMax, jittered, so the loop never spins.
const (
	maxHold    = 20 * time.Second
	followHold = 2 * time.Second
	pollStart  = 100 * time.Millisecond
	pollFactor = 1.5
	pollMax    = 2 * time.Second
)

// Get returns one execution. Errors: not_found, invalid_argument.
func (e *Executions) Get(ctx context.Context, id string) (registry.Execution, error) {
	return fetch[registry.Execution](ctx, e.c, call{method: http.MethodGet, path: execPath(id, ""), idempotent: true})
}

// Cancel records a running execution as cancelled and stops its run; a
// cancelled one is returned as it is. It is retried with one
// Idempotency-Key. Errors: not_found, conflict (it already completed or
// failed), permission_denied.
func (e *Executions) Cancel(ctx context.Context, id string) (registry.Execution, error) {
	return fetch[registry.Execution](ctx, e.c, call{method: http.MethodPost, path: execPath(id, "/cancel"), keyed: true})
}

// List returns one page of flow's executions, newest first. Errors:
// invalid_argument.
func (e *Executions) List(ctx context.Context, flow string, opts ListOptions) (Page[registry.Execution], error) {
	return list[registry.Execution](ctx, e.c, flowPath(flow, "/executions"), opts)
}

// Wait waits for the execution to end, as Handle.Wait does.
func (e *Executions) Wait(ctx context.Context, id string) (registry.Execution, error) {
	return e.c.wait(ctx, registry.Execution{ExecID: id, Status: registry.StatusRunning}, nil)
}

// Follow is Wait that also hands seen every read of the still-running
// execution: the first at once, then at least every 2 s, for progress
// displays.
func (e *Executions) Follow(ctx context.Context, id string, seen func(registry.Execution)) (registry.Execution, error) {
	return e.c.wait(ctx, registry.Execution{ExecID: id, Status: registry.StatusRunning}, seen)
}

// Handle is an execution an invocation started.
type Handle struct {
	// ExecID identifies the execution (ex_…).
	ExecID string
	// Execution is the execution as started (or, for an idempotency-key
	// replay, as it was then); Wait and Status read the current one.
	Execution registry.Execution
	// Replayed is true when the server answered with the execution an
	// earlier request with the same IdempotencyKey (and the same inputs and
	// selector) started, rather than starting one for this call.
	Replayed bool
	c        *Client
}

// Status reads the execution's current status. Errors: as Executions.Get.
func (h *Handle) Status(ctx context.Context) (registry.ExecStatus, error) {
	e, err := h.c.Executions().Get(ctx, h.ExecID)
	return e.Status, err
}

// Wait waits until the execution ends or ctx does, and returns the last
// execution it read with: nil when it completed; an *ExecutionError when it
// failed; an error wrapping ErrCancelled when it was cancelled; one
// wrapping ctx.Err() when ctx ended first (the execution keeps running:
// cancel it with Executions.Cancel if it is no longer wanted); or the
// server's error. It asks the server to hold each read until the execution
// ends (GET /v1/executions/{id}?wait=, up to 20 s or ctx's deadline), so
// the answer comes as the run ends; a server without ?wait= is polled
// from 100 ms, growing 1.5× to 2 s, jittered. A briefly unavailable or
// rate-limiting server is asked again.
func (h *Handle) Wait(ctx context.Context) (registry.Execution, error) {
	return h.c.wait(ctx, h.Execution, nil)
}

// Result waits for the execution and returns its JSON result. Errors: those
// of Wait, and payload_too_large when the result was over 256 KiB and is
// stored in the server's bucket (the error names the object) instead.
func (h *Handle) Result(ctx context.Context) (json.RawMessage, error) {
	e, err := h.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if e.ResultRef != "" && len(e.Result) == 0 {
		return nil, registry.Errorf(registry.CodePayloadTooLarge,
			"the result of execution %s is over %d KiB and is stored in the server's bucket as %s, not returned by the API; read it from the bucket or return less from the flow",
			e.ExecID, registry.MaxInlineResultBytes>>10, e.ResultRef).WithDetails("result_ref", e.ResultRef)
	}
	return e.Result, nil
}

// wait reads last.ExecID, each read held by the server, until it ends; see
// Handle.Wait. seen, when set, gets each read of the still-running
// execution.
func (c *Client) wait(ctx context.Context, last registry.Execution, seen func(registry.Execution)) (registry.Execution, error) {
	stillRunning := func() (registry.Execution, error) {
		return last, fmt.Errorf("execution %s is still %s: %w", last.ExecID, last.Status, ctx.Err())
	}
	hold := maxHold
	if seen != nil {
		hold = followHold
	}
	if t := c.http.Timeout; t > 0 {
		hold = min(hold, t/2)
	}
	pause := pollStart
	for first := true; ; first = false {
		ask := hold
		if first && seen != nil {
			ask = 0 // a progress display shows the execution at once
		}
		asked := time.Now()
		got, err := c.Executions().held(ctx, last.ExecID, ask)
		switch {
		case ctx.Err() != nil:
			return stillRunning()
		case errors.Is(err, ErrUnavailable), errors.Is(err, ErrRateLimited):
		case err != nil:
			return last, fmt.Errorf("wait for execution %s: %w", last.ExecID, err)
		case got.Status.Terminal():
			return got, outcomeError(got)
		default:
			last = got
		}
		if seen != nil {
			seen(last)
		}
		if ask == 0 {
			continue
		}
		// A held answer has waited already; a quick one pauses first.
		if rest := jitter(pause) - time.Since(asked); rest > 0 && sleep(ctx, rest) != nil {
			return stillRunning()
		}
		pause = min(time.Duration(float64(pause)*pollFactor), pollMax)
	}
}

// held reads the execution, asking the server to hold the answer up to
// hold (and no longer than ctx's deadline) while it is running.
func (e *Executions) held(ctx context.Context, id string, hold time.Duration) (registry.Execution, error) {
	if dl, ok := ctx.Deadline(); ok {
		hold = min(hold, time.Until(dl))
	}
	r := call{method: http.MethodGet, path: execPath(id, ""), idempotent: true}
	if hold = hold.Truncate(time.Millisecond); hold > 0 {
		r.query = url.Values{"wait": {hold.String()}}
	}
	return fetch[registry.Execution](ctx, e.c, r)
}

// execPath is /v1/executions/{id}{rest}.
func execPath(id, rest string) string { return "/v1/executions/" + url.PathEscape(id) + rest }
