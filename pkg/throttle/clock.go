package throttle

import (
	"context"
	"sync/atomic"
	"time"
)

type virtualTimeKey struct{}

// opClock is one operation's virtual time; Sleep moves it on.
type opClock struct{ at atomic.Int64 }

// WithTime returns ctx carrying the virtual time t (time since the start of
// the simulation) at which the operation it serves is issued.
func WithTime(ctx context.Context, t time.Duration) context.Context {
	c := &opClock{}
	c.at.Store(int64(t))
	return context.WithValue(ctx, virtualTimeKey{}, c)
}

// TimeOf returns the virtual time of ctx's operation, and whether it has
// one. Requests without one are charged at the latest time a budget has
// seen (they neither refill nor drain it early).
func TimeOf(ctx context.Context) (time.Duration, bool) {
	c, ok := ctx.Value(virtualTimeKey{}).(*opClock)
	if !ok {
		return 0, false
	}
	return time.Duration(c.at.Load()), true
}

// Sleep is a backoff wait that respects virtual time: under simulation
// (ctx has a virtual time) it moves the operation's time on by d and
// returns at once, so the requests that follow are charged later; otherwise
// it waits d, or until ctx is done. Application code that backs off (a
// retried StartExecution) can take it as its sleep function.
func Sleep(ctx context.Context, d time.Duration) error {
	if c, ok := ctx.Value(virtualTimeKey{}).(*opClock); ok {
		c.at.Add(int64(d))
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
