package registry

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Split is a weighted exclusive route: version → weight. A valid split has
// MinSplitVersions to MaxSplitVersions members, each weight 1..99, summing
// to 100 (ValidateSplit). Routes and requests keep it nil unless split.
// docs/splits.md explains the design.
type Split map[int]int

// Bounds of a split.
const (
	MinSplitVersions = 2
	MaxSplitVersions = 8
	// SplitBuckets is the total weight of a split: a pick is a bucket
	// 0..SplitBuckets-1 walked over the members ascending.
	SplitBuckets = 100
)

// Versions returns the members, ascending.
func (s Split) Versions() []int { return slices.Sorted(maps.Keys(s)) }

// Equal reports whether two splits have the same members and weights.
func (s Split) Equal(o Split) bool { return maps.Equal(s, o) }

// Clone copies the split (nil stays nil).
func (s Split) Clone() Split { return maps.Clone(s) }

// String writes the split as the CLI takes it: "3=90,4=10", ascending.
func (s Split) String() string {
	parts := make([]string, 0, len(s))
	for _, v := range s.Versions() {
		parts = append(parts, strconv.Itoa(v)+"="+strconv.Itoa(s[v]))
	}
	return strings.Join(parts, ",")
}

// Phrase writes the split for messages: "versions 3 (90%) and 4 (10%)".
func (s Split) Phrase() string {
	parts := make([]string, 0, len(s))
	for _, v := range s.Versions() {
		parts = append(parts, strconv.Itoa(v)+" ("+strconv.Itoa(s[v])+"%)")
	}
	if len(parts) < 2 {
		return "version " + strings.Join(parts, "")
	}
	return "versions " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// Heaviest is the member with the most weight (the lowest version of a
// tie): the version a split route sends most invocations to, which a flow
// summary reports as a split default's version.
func (s Split) Heaviest() int {
	best := 0
	for _, v := range s.Versions() {
		if best == 0 || s[v] > s[best] {
			best = v
		}
	}
	return best
}

// ValidateSplit checks a requested split: 2..8 valid versions, weights
// 1..99 summing to 100. Errors: invalid_argument with reason invalid_split.
func ValidateSplit(s Split) error {
	bad := func(format string, args ...any) error {
		return Errorf(CodeInvalidArgument, format, args...).WithReason(ReasonInvalidSplit).
			WithDetails("min_versions", MinSplitVersions).WithDetails("max_versions", MaxSplitVersions)
	}
	if len(s) < MinSplitVersions || len(s) > MaxSplitVersions {
		return bad("a split names %d to %d versions with weights summing to %d (like {\"3\": 90, \"4\": 10}), not %d; to send everything to one version, set version instead of split",
			MinSplitVersions, MaxSplitVersions, SplitBuckets, len(s))
	}
	sum := 0
	for _, v := range s.Versions() {
		if err := ValidateVersion(v); err != nil {
			return bad("split version %d is not a version: versions are positive integers", v)
		}
		w := s[v]
		if w < 1 || w >= SplitBuckets {
			return bad("split weight %d of version %d is out of range: each weight is 1 to %d and the weights sum to %d", w, v, SplitBuckets-1, SplitBuckets)
		}
		sum += w
	}
	if sum != SplitBuckets {
		return bad("split weights sum to %d, not %d: adjust them so they add up to %d (like {\"3\": 90, \"4\": 10})", sum, SplitBuckets, SplitBuckets)
	}
	return nil
}

// UnmarshalJSON reads a split as requests send it, {"3": 90, "4": 10},
// strictly: each key a version written as ParseVersion takes it (so "03"
// and "3" cannot both name version 3 and be merged without a word), each
// weight a JSON integer. It does not check the bounds: ValidateSplit does.
// Errors: invalid_argument with reason invalid_split, saying which key.
func (s *Split) UnmarshalJSON(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		*s = nil
		return nil
	}
	bad := func(format string, args ...any) error {
		return Errorf(CodeInvalidArgument, format, args...).WithReason(ReasonInvalidSplit)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return bad("a split is an object of version to weight, like {\"3\": 90, \"4\": 10}")
	}
	out := make(Split, len(raw))
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		version, err := strconv.Atoi(key)
		if err != nil || strconv.Itoa(version) != key {
			return bad("split key %q is not a version: name each version once, as a number without sign or leading zeros, like {\"3\": 90, \"4\": 10}", clip(key))
		}
		var weight int
		if err := json.Unmarshal(raw[key], &weight); err != nil {
			return bad("the weight of version %d in the split is %s: send each weight as a whole number 1 to %d, the weights summing to %d", version, clip(string(raw[key])), SplitBuckets-1, SplitBuckets)
		}
		out[version] = weight
	}
	*s = out
	return nil
}

// ParseSplit reads the CLI's "3=90,4=10" and validates it.
func ParseSplit(text string) (Split, error) {
	s := Split{}
	for _, part := range strings.Split(text, ",") {
		v, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		version, verr := strconv.Atoi(strings.TrimSpace(v))
		weight, werr := strconv.Atoi(strings.TrimSpace(w))
		if !ok || verr != nil || werr != nil {
			return nil, Errorf(CodeInvalidArgument, "split %q is not VERSION=WEIGHT,...: write it like 3=90,4=10", text).WithReason(ReasonInvalidSplit)
		}
		if _, dup := s[version]; dup {
			return nil, Errorf(CodeInvalidArgument, "split %q names version %d twice: name each version once", text, version).WithReason(ReasonInvalidSplit)
		}
		s[version] = weight
	}
	return s, ValidateSplit(s)
}

// Pick is the member a bucket (0..SplitBuckets-1) falls on, walking the
// members ascending: with 3=90,4=10, buckets 0..89 pick 3 and 90..99 pick
// 4. Walking in a fixed order means shifting weight between two members
// only moves the keys in the shifted buckets (90/10 → 80/20 moves buckets
// 80..89 and nothing else).
func (s Split) Pick(bucket int) int {
	vs := s.Versions()
	for _, v := range vs {
		if bucket < s[v] {
			return v
		}
		bucket -= s[v]
	}
	return vs[len(vs)-1] // only for a bucket past the total, which no caller passes
}

// StickyBucket is the bucket of a sticky key on one flow's tag: a stable
// 64-bit hash (FNV-1a) of flow, tag and key, mod SplitBuckets, so the same
// key lands on the same member while the split is unchanged, in every
// process and on every store.
func StickyBucket(flow, tag, key string) int {
	h := fnv.New64a()
	h.Write([]byte(flow))
	h.Write([]byte{0})
	h.Write([]byte(tag))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int(h.Sum64() % SplitBuckets)
}

// pickBucket is the bucket of a resolve: the sticky key's, or a random one.
func (s Selector) pickBucket(flow string) int {
	if s.StickyKey != "" {
		return StickyBucket(flow, s.Tag, s.StickyKey)
	}
	return rand.IntN(SplitBuckets)
}

// SplitNotRemovable refuses removing one member of a split route: the
// weights would no longer sum to 100.
func (r Route) SplitNotRemovable(version int) *Error {
	return Errorf(CodeConflict, "tag %q of flow %q is split over %s, so version %d cannot leave it alone; set the tag to one version, or to a split without version %d",
		r.Tag, r.Flow, r.Split.Phrase(), version, version).
		WithDetails("flow", r.Flow).WithDetails("tag", r.Tag).WithDetails("version", version).WithReason(ReasonTagSplit)
}
