package api

import (
	"encoding/json"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// ArtifactRequest is the body of POST /v1/artifacts: a bundle announced by
// its SHA-256 (hex, with or without the "sha256:" prefix) and size.
type ArtifactRequest struct {
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// ArtifactStatus is the answer of POST /v1/artifacts.
type ArtifactStatus struct {
	Digest string `json:"digest"`
	// Exists is true when the server already has these bytes; Upload is
	// then nil and nothing needs to be sent.
	Exists bool    `json:"exists"`
	Upload *Upload `json:"upload,omitempty"`
}

// Upload says how to upload a bundle: an HTTP request to a presigned URL.
type Upload struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers,omitempty"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// TokenRequest is the body of POST /v1/auth/token; 0 (or no body) asks for
// the server's default lifetime.
type TokenRequest struct {
	TTLSeconds int64 `json:"ttl_seconds,omitempty"`
}

// Token is the answer of POST /v1/auth/token: a short-lived bearer token
// for the project of the API key that asked.
type Token struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Status is the answer of GET /v1/status: the server and who the
// request's credential authenticates as.
type Status struct {
	ServerVersion string              `json:"server_version"`
	Project       string              `json:"project"`
	Principal     string              `json:"principal"`
	Role          registry.Role       `json:"role"`
	Credential    registry.Credential `json:"credential"`
}

// StackList is the answer of GET /v1/stacks.
type StackList struct {
	Items   []registry.Stack `json:"items"`
	Default string           `json:"default"`
}

// TagRequest is the body of PUT /v1/flows/{flow}/tags/{tag}. Version is a
// pointer so the server can tell a missing version from version 0.
//
// Split, instead of Version, points an exclusive tag at 2 to 8 versions by
// weight ({"3": 90, "4": 10}; docs/splits.md). Exclusive is a pointer so
// that a split without it is exclusive and one asking for a shared tag is
// refused; a version without it is shared, as before.
type TagRequest struct {
	Version   *int           `json:"version,omitempty"`
	Split     registry.Split `json:"split,omitempty"`
	Exclusive *bool          `json:"exclusive,omitempty"`
}

// InvokeRequest is the body of POST /v1/flows/{flow}/invocations: a tag or
// a version (not both; neither is the default tag) and the run's inputs.
//
// StickyKey (a user id, say) makes the pick of a split tag stable: the same
// key runs the same version while the split is unchanged.
type InvokeRequest struct {
	Tag       string          `json:"tag,omitempty"`
	Version   *int            `json:"version,omitempty"`
	StickyKey string          `json:"sticky_key,omitempty"`
	Inputs    json.RawMessage `json:"inputs,omitempty"`
}

// PinnedInvokeRequest is the body of the pinned-version invoke route,
// whose path names the version.
type PinnedInvokeRequest struct {
	Inputs json.RawMessage `json:"inputs,omitempty"`
}

// DeployRequest is the body of POST /v1/flows/{flow}/deployments.
type DeployRequest struct {
	Entrypoint  string          `json:"entrypoint"`
	Source      *Source         `json:"source,omitempty"`
	Inputs      json.RawMessage `json:"inputs,omitempty"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
	Tag         string          `json:"tag,omitempty"`
	Exclusive   bool            `json:"exclusive,omitempty"`
	// Build saves the version without a routing tag (tag must be absent);
	// the flow's first version still gets `default`.
	Build       bool   `json:"build,omitempty"`
	Stack       string `json:"stack,omitempty"`
	Description string `json:"description,omitempty"`
	// Secrets names the project's flow secrets the version's runs get as
	// environment variables (docs/secrets.md).
	Secrets []string `json:"secrets,omitempty"`
}

// Source is a deploy's project bundle: a stored bundle by digest (uploaded
// through POST /v1/artifacts), or a small project inline as base64.
type Source struct {
	Digest  string `json:"digest,omitempty"`
	Archive string `json:"archive,omitempty"`
	Commit  string `json:"commit,omitempty"`
	Dirty   bool   `json:"dirty,omitempty"`
}

// PruneRequest is the body of POST /v1/flows/{flow}/prune (docs/prune.md):
// keep the newest Keep versions (at least 1), and with OlderThan only
// delete versions created longer ago than that age (30d, 12h, 90m).
type PruneRequest struct {
	Keep      *int   `json:"keep"`
	OlderThan string `json:"older_than,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
}
