package throttle

import (
	"context"
	"time"
)

type virtualTimeKey struct{}

// WithTime returns ctx carrying the virtual time t (time since the start of
// the simulation) at which the operation it serves is issued.
func WithTime(ctx context.Context, t time.Duration) context.Context {
	return context.WithValue(ctx, virtualTimeKey{}, t)
}

// TimeOf returns the virtual time WithTime put in ctx, and whether there
// was one. Requests without one are charged at the time of the latest
// charge (they neither refill nor drain a budget early).
func TimeOf(ctx context.Context) (time.Duration, bool) {
	t, ok := ctx.Value(virtualTimeKey{}).(time.Duration)
	return t, ok
}
