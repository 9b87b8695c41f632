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

// TimeOf returns the virtual time of ctx's operation, and whether it has
// one. Requests without one are charged at the latest time a budget has
// seen (they neither refill nor drain it early).
func TimeOf(ctx context.Context) (time.Duration, bool) {
	t, ok := ctx.Value(virtualTimeKey{}).(time.Duration)
	return t, ok
}
