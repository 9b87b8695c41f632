package registry

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PruneRequest asks to delete a flow's versions that nothing needs any more
// (docs/prune.md): no tag routes to them, they are not among the newest
// Keep, they are older than OlderThan (when set) and run no execution.
type PruneRequest struct {
	// Keep is how many of the newest versions stay whatever else holds; at
	// least 1.
	Keep int `json:"keep"`
	// OlderThan, when above zero, spares versions created less than this
	// long ago.
	OlderThan time.Duration `json:"-"`
	// DryRun plans without deleting anything.
	DryRun bool `json:"dry_run"`
}

// Validate checks a prune request. Errors: invalid_argument.
func (r PruneRequest) Validate() error {
	if r.Keep < 1 {
		return Errorf(CodeInvalidArgument, "keep is %d; send keep of at least 1 (the newest version always stays)", r.Keep).WithDetails("keep", r.Keep)
	}
	if r.OlderThan < 0 {
		return Errorf(CodeInvalidArgument, "older_than is negative; send a positive age such as 30d or 12h, or leave it out")
	}
	return nil
}

// Why a prune kept a version: the first rule that spared it, in this order.
const (
	// KeptRouted: a tag (exclusive, shared or in a split) routes to it, or
	// one did by the time the delete was sent.
	KeptRouted = "routed"
	// KeptNewest: it is among the newest Keep versions.
	KeptNewest = "newest"
	// KeptTooYoung: it was created less than OlderThan ago.
	KeptTooYoung = "too_young"
	// KeptRunning: an execution of it is running.
	KeptRunning = "running"
)

// Why a prune kept a source bundle none of the deleted versions needs any
// more.
const (
	// BundleShared: another version of the project still uses it.
	BundleShared = "shared"
	// BundleInUse: a deploy was using it, or an execution of a deleted
	// version started while the prune ran.
	BundleInUse = "in_use"
)

// PrunedVersion is one version a prune deleted (or, dry, would delete).
type PrunedVersion struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// Digest is the version's source bundle, when it has one.
	Digest string `json:"digest,omitempty"`
	// StartedExecutions lists executions of the version recorded while the
	// prune ran (an invoke that resolved it before the delete); its bundle
	// is kept for them.
	StartedExecutions []string `json:"started_executions,omitempty"`
}

// KeptVersion is one version a prune left, and why.
type KeptVersion struct {
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// Reason is one of the Kept* constants.
	Reason string `json:"reason"`
	// Tags are the tags routing to it, for Reason routed.
	Tags []string `json:"tags,omitempty"`
	// Running is an execution of it that is running, for Reason running.
	Running string `json:"running,omitempty"`
}

// PrunedBundle is a source bundle a prune considered: one the deleted
// versions used.
type PrunedBundle struct {
	Digest string `json:"digest"`
	// Deleted is true when the bundle was (or, dry, would be) deleted.
	Deleted bool `json:"deleted"`
	// Reason says why a bundle was kept: BundleShared or BundleInUse.
	Reason string `json:"reason,omitempty"`
	// UsedBy names a version that still uses it, as flow:version, for
	// Reason shared.
	UsedBy string `json:"used_by,omitempty"`
}

// Pruning reports what a prune did (or, dry, would do).
type Pruning struct {
	Project string `json:"project"`
	Flow    string `json:"flow"`
	DryRun  bool   `json:"dry_run"`
	Keep    int    `json:"keep"`
	// OlderThan echoes the request's age, as sent ("30d"), when set.
	OlderThan string `json:"older_than,omitempty"`
	// Deleted lists the versions deleted, ascending.
	Deleted []PrunedVersion `json:"deleted"`
	// Kept lists every other version, ascending, with why it stayed.
	Kept []KeptVersion `json:"kept"`
	// Bundles are the source bundles of the deleted versions.
	Bundles []PrunedBundle `json:"bundles"`
}

// BundleGuard keeps a deploy that uses a source bundle and the collection of
// that bundle apart (docs/prune.md): a deploy leases the bundle before it
// checks it is stored and releases it once its version is committed (or
// refused); a collection starts only while no lease is live and refuses
// leases until it ends. Both sides write one record in one conditional
// step, so whichever comes second sees the first. Times compare on the
// writers' clocks: a lease and a collection each last at most until their
// request's deadline plus SinceSkew, so one whose holder died ends too.
type BundleGuard interface {
	// LeaseBundle marks project's bundle digest in use by one more deploy,
	// until until at the latest.
	// Errors: conflict (reason bundle_being_collected), unavailable.
	LeaseBundle(ctx context.Context, project, digest string, until time.Time) error
	// ReleaseBundle ends one deploy's lease of the bundle. Errors: unavailable.
	ReleaseBundle(ctx context.Context, project, digest string) error
	// StartBundleCollection marks the bundle being collected by token until
	// until, unless a lease or another collection is live: started is false
	// then. Errors: unavailable.
	StartBundleCollection(ctx context.Context, project, digest, token string, until time.Time) (started bool, err error)
	// EndBundleCollection ends token's collection of the bundle (nothing
	// when it is not the one marked). Errors: unavailable.
	EndBundleCollection(ctx context.Context, project, digest, token string) error
}

// UnroutedDeleter deletes a version only while no tag at all routes to it,
// which is what prune needs: Store.DeleteDeployment removes the shared tags
// a version holds along with it.
type UnroutedDeleter interface {
	// DeleteUnroutedDeployment is Store.DeleteDeployment refused also while
	// a shared tag routes to the version.
	// Errors: not_found, conflict (holds_exclusive_tags, version_routed), unavailable.
	DeleteUnroutedDeployment(ctx context.Context, project, flow string, version int, by string) error
}

// VersionRouted is the conflict of deleting only an unrouted version when
// shared tags route to it.
func VersionRouted(flow string, version int, tags []string) *Error {
	return Errorf(CodeConflict, "version %d of flow %q is routed by tags %s; remove them from it first", version, flow, strings.Join(tags, ", ")).
		WithDetails("flow", flow).WithDetails("version", version).WithDetails("tags", tags).WithReason(ReasonVersionRouted)
}

// BundleBeingCollected is the conflict of a deploy whose source bundle a
// prune is deleting at that moment.
func BundleBeingCollected(digest string) *Error {
	return Errorf(CodeConflict, "source bundle %s is being deleted by a prune: nothing uses it any more; upload it again (POST /v1/artifacts) and deploy again", digest).
		WithDetails("digest", digest).WithReason(ReasonBundleBeingCollected)
}

// ParseAge reads an age such as 30d, 12h or 90m: a Go duration, or whole
// days with a d suffix. It must be above zero.
// Errors: invalid_argument, naming field.
func ParseAge(field, s string) (time.Duration, error) {
	bad := Errorf(CodeInvalidArgument, "%s %q is not an age; send whole days (30d) or a duration (12h, 90m)", field, s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 1 || n > 100*365 {
			return 0, bad
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, bad
	}
	return d, nil
}

// FormatAge renders d the way ParseAge reads it back: whole days as 30d.
func FormatAge(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}
