package throttle

import "time"

// epsilon absorbs float rounding, so that 1,000 one-unit writes fill a
// 1,000-unit second exactly.
const epsilon = 1e-9

// bucket is a token bucket refilled by virtual time.
type bucket struct {
	capacity, perSecond float64
	tokens              float64
	at                  time.Duration
	started             bool
}

func newBucket(capacity, perSecond float64) *bucket {
	return &bucket{capacity: capacity, perSecond: perSecond, tokens: capacity}
}

// refill brings the bucket to virtual time t. Time never runs backwards
// for a bucket: a request issued before the latest one it saw (concurrent
// callers, a retry scheduled later) is charged at the latest time.
func (b *bucket) refill(t time.Duration) {
	if !b.started {
		b.started, b.at = true, t
		return
	}
	if t <= b.at {
		return
	}
	b.tokens = min(b.capacity, b.tokens+(t-b.at).Seconds()*b.perSecond)
	b.at = t
}

// has reports whether n tokens are there at t.
func (b *bucket) has(t time.Duration, n float64) bool {
	b.refill(t)
	return b.tokens+epsilon >= n
}

// take removes n tokens; the bucket may go below zero when a charge
// settled after the request (a read's size) exceeds what was checked.
func (b *bucket) take(n float64) { b.tokens -= n }
