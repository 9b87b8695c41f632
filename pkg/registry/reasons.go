package registry

// DetailReason is the error detail that names a condition a client may
// answer in its own terms. Messages are written for every surface (HTTP,
// MCP, the SDKs): they name API fields and concepts, never a CLI command or
// flag; a client that has its own way to the next step (the CLI's flags)
// keys it on the reason. api/openapi.yaml lists the reasons.
const DetailReason = "reason"

// The reasons in details.reason. Each names one refusal a client may turn
// into its own next step; the message stays the same for everyone.
const (
	// ReasonNoDeployments: the flow has no deployments (not_found).
	ReasonNoDeployments = "no_deployments"
	// ReasonVersionNotFound: the flow has no such version (not_found).
	ReasonVersionNotFound = "version_not_found"
	// ReasonTagNotFound: no version of the flow holds the tag, or it has no
	// history to roll back (not_found).
	ReasonTagNotFound = "tag_not_found"
	// ReasonTagNotHeld: the version does not hold the tag being removed
	// (not_found).
	ReasonTagNotHeld = "tag_not_held"
	// ReasonAmbiguousTag: resolving a shared tag on several versions
	// (conflict); details.versions lists them.
	ReasonAmbiguousTag = "ambiguous_tag"
	// ReasonNoDefault: the flow has deployments but no default, and the
	// request named no tag or version (not_found).
	ReasonNoDefault = "no_default"
	// ReasonDefaultExclusive: default was asked for as a shared tag
	// (invalid_argument); it is always exclusive.
	ReasonDefaultExclusive = "default_exclusive"
	// ReasonDefaultNotRemovable: default was asked to be removed (conflict);
	// it can only be moved.
	ReasonDefaultNotRemovable = "default_not_removable"
	// ReasonHoldsExclusiveTags: deleting a version that holds exclusive tags
	// (conflict); details.exclusive_tags lists them.
	ReasonHoldsExclusiveTags = "holds_exclusive_tags"
	// ReasonFlowHasRoutes: deleting a flow while exclusive tags other than
	// default route to its versions (conflict); details.exclusive_tags
	// lists them.
	ReasonFlowHasRoutes = "flow_has_routes"
	// ReasonFlowBeingDeleted: a change to a flow whose delete is under way
	// (conflict).
	ReasonFlowBeingDeleted = "flow_being_deleted"
	// ReasonNoEarlierVersion: a rollback of a tag that was never on another
	// version (conflict).
	ReasonNoEarlierVersion = "no_earlier_version"
	// ReasonRollbackTargetDeleted: a rollback to a version that was deleted
	// (conflict); details.version names it.
	ReasonRollbackTargetDeleted = "rollback_target_deleted"
	// ReasonMovedDuringRollback: the tag moved while a rollback ran
	// (conflict).
	ReasonMovedDuringRollback = "moved_during_rollback"
	// ReasonInputsMismatch: invoke inputs break the deployment's
	// input_schema (unprocessable); details.keys names the offending keys.
	ReasonInputsMismatch = "inputs_mismatch"
	// ReasonExecutionNotFound: no execution has that id (not_found).
	ReasonExecutionNotFound = "execution_not_found"
	// ReasonNoRoute: the path is no route of the API (not_found), often a
	// base URL missing or adding a stage or prefix.
	ReasonNoRoute = "no_route"
	// ReasonNoCredentials: the request carries no credentials
	// (unauthenticated).
	ReasonNoCredentials = "no_credentials"
	// ReasonTokenExpired: the bearer token has expired (unauthenticated); a
	// client holding the API key may get a new token.
	ReasonTokenExpired = "token_expired"
	// ReasonCredentialInvalid: the API key is unknown or revoked, or the
	// token was not issued by this server (unauthenticated).
	ReasonCredentialInvalid = "credential_invalid"
	// ReasonCredentialOtherProject: the token is for another project than
	// X-Kitaru-Project names (unauthenticated).
	ReasonCredentialOtherProject = "credential_other_project"
	// ReasonTooManyTags: adding a tag to a flow that already routes
	// MaxLiveTags tags (conflict); details.limit is the cap.
	ReasonTooManyTags = "too_many_tags"
	// ReasonSecretMissing: an invoke of a deployment whose declared secrets
	// are not all set in the project (unprocessable; details.missing).
	ReasonSecretMissing = "secret_missing"
	// ReasonSecretNotFound: the project has no secret of that name (not_found).
	ReasonSecretNotFound = "secret_not_found"
	// ReasonSinceInvalid: since is neither an RFC 3339 time nor a positive
	// duration (invalid_argument); details.since echoes it.
	ReasonSinceInvalid = "since_invalid"
	// ReasonSinceOutOfRange: since is in the future or further back than
	// flow stats look (invalid_argument); details.max_window is the limit.
	ReasonSinceOutOfRange = "since_out_of_range"
	// ReasonBundleBeingCollected: a deploy whose source bundle a prune is
	// deleting (conflict); details.digest names it. Upload it again.
	ReasonBundleBeingCollected = "bundle_being_collected"
	// ReasonVersionRouted: deleting only an unrouted version (a prune) that
	// shared tags route to (conflict); details.tags lists them.
	ReasonVersionRouted = "version_routed"
	// ReasonInvalidSplit: a split's members or weights are invalid, or a
	// request names both a version and a split (invalid_argument).
	ReasonInvalidSplit = "invalid_split"
	// ReasonSplitShared: a split was asked for on a shared tag
	// (invalid_argument); splits route exclusive tags.
	ReasonSplitShared = "split_shared"
	// ReasonTagSplit: removing one member of a split tag (conflict); set
	// the tag to one version or to another split instead.
	ReasonTagSplit = "tag_split"
)

// Reasons lists every reason above, for documents and tests that must name
// them all.
var Reasons = []string{
	ReasonNoDeployments, ReasonVersionNotFound, ReasonTagNotFound, ReasonTagNotHeld, ReasonAmbiguousTag,
	ReasonNoDefault, ReasonDefaultExclusive, ReasonDefaultNotRemovable, ReasonHoldsExclusiveTags,
	ReasonNoEarlierVersion, ReasonRollbackTargetDeleted, ReasonMovedDuringRollback, ReasonInputsMismatch,
	ReasonExecutionNotFound, ReasonNoRoute, ReasonNoCredentials, ReasonTokenExpired, ReasonCredentialInvalid,
	ReasonCredentialOtherProject, ReasonFlowHasRoutes, ReasonFlowBeingDeleted,
	ReasonTooManyTags,
	ReasonSecretMissing, ReasonSecretNotFound,
	ReasonSinceInvalid, ReasonSinceOutOfRange,
	ReasonBundleBeingCollected, ReasonVersionRouted,
	ReasonInvalidSplit, ReasonSplitShared, ReasonTagSplit,
}

// WithReason returns e with details.reason set to reason.
func (e *Error) WithReason(reason string) *Error { return e.WithDetails(DetailReason, reason) }
