package api

import (
	"encoding/json"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// The changes a diff names.
const (
	ChangeAdded    = "added"
	ChangeRemoved  = "removed"
	ChangeModified = "modified"
)

// DeploymentDiff answers GET /v1/flows/{flow}/diff: what changed from one
// deployment of a flow (From) to another (To). Every list is empty, never
// absent, when nothing of its kind changed (docs/flow-diff.md).
type DeploymentDiff struct {
	Flow string   `json:"flow"`
	From DiffSide `json:"from"`
	To   DiffSide `json:"to"`
	// Identical is true when nothing below differs: the same version twice,
	// or two versions deployed alike from the same bundle.
	Identical bool `json:"identical"`
	// Fields lists the changed scalar fields: entrypoint, stack,
	// description, source.digest, source.commit, source.dirty.
	Fields      []FieldChange `json:"fields"`
	InputSchema SchemaDiff    `json:"input_schema"`
	// Inputs lists the deploy-time inputs added, removed or changed, key by
	// key at the top level (as invoke merges them).
	Inputs  []InputChange `json:"inputs"`
	Secrets SecretsDiff   `json:"secrets"`
	Source  SourceDiff    `json:"source"`
}

// DiffSide is one deployment of a diff and how it was named.
type DiffSide struct {
	// Ref is the version or tag as asked for.
	Ref string `json:"ref"`
	// Tag is the tag Ref named, resolved when the diff was made; empty for
	// a version.
	Tag string `json:"tag,omitempty"`
	// Split is that tag's split when it is split: Version is then the
	// member this request picked by weight, which another request may not
	// pick. Name versions to diff the members of a split.
	Split     registry.Split `json:"split,omitempty"`
	Version   int            `json:"version"`
	CreatedAt time.Time      `json:"created_at"`
	CreatedBy string         `json:"created_by,omitempty"`
}

// FieldChange is a changed scalar field of a deployment; Before and After
// are its values in From and To: a string ("" when unset), or a boolean
// for source.dirty.
type FieldChange struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// SchemaDiff compares the input schemas parameter by parameter: the
// properties of the schemas, whether each is required, its type and default.
type SchemaDiff struct {
	FromDeclared bool              `json:"from_declared"`
	ToDeclared   bool              `json:"to_declared"`
	Parameters   []ParameterChange `json:"parameters"`
	// OtherChanged is true when keywords outside properties and required
	// differ (additionalProperties, $defs, …).
	OtherChanged bool `json:"other_changed"`
}

// ParameterChange is one parameter added, removed or modified. Aspects
// names what of a modified one changed: type, required, default, and schema
// for any other keyword of its property schema.
type ParameterChange struct {
	Name    string     `json:"name"`
	Change  string     `json:"change"`
	Aspects []string   `json:"aspects,omitempty"`
	From    *Parameter `json:"from,omitempty"`
	To      *Parameter `json:"to,omitempty"`
}

// Parameter is a parameter as one input schema declares it.
type Parameter struct {
	// Type is the JSON Schema type, alternatives joined by | (integer|null);
	// empty when the schema does not say.
	Type     string `json:"type,omitempty"`
	Required bool   `json:"required"`
	// DefaultValue is the declared default, absent when there is none.
	DefaultValue json.RawMessage `json:"default_value,omitempty"`
}

// InputChange is one deploy-time input key added, removed or modified:
// Before is its value in From, After in To. Values over MaxDiffValueBytes
// are left out, and ValuesOmitted says so.
type InputChange struct {
	Key           string          `json:"key"`
	Change        string          `json:"change"`
	Before        json.RawMessage `json:"before,omitempty"`
	After         json.RawMessage `json:"after,omitempty"`
	ValuesOmitted bool            `json:"values_omitted,omitempty"`
}

// MaxDiffValueBytes bounds an input value quoted in a diff.
const MaxDiffValueBytes = 1024

// SecretsDiff lists the flow secret names one version declares and the other not.
type SecretsDiff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
}

// SourceDiff compares the two source bundles file by file.
type SourceDiff struct {
	// Compared is true when both bundles were read; false when they are
	// one bundle (SameBundle) or one could not be read (Unavailable).
	Compared   bool `json:"compared"`
	SameBundle bool `json:"same_bundle"`
	// Unavailable says why the files could not be compared.
	Unavailable string `json:"unavailable,omitempty"`
	// Path is the path filter the answer was narrowed to, if any.
	Path    string      `json:"path,omitempty"`
	Summary FileSummary `json:"summary"`
	// Files lists the files added, removed or modified, by path.
	Files []FileChange `json:"files"`
	// Truncated is true when diff text or files were left out to bound
	// the answer; Truncation says what was cut and how to see it.
	Truncated  bool   `json:"truncated"`
	Truncation string `json:"truncation,omitempty"`
}

// FileSummary counts the files of a source diff, including those whose
// change the answer does not list.
type FileSummary struct {
	Added     int `json:"added"`
	Removed   int `json:"removed"`
	Modified  int `json:"modified"`
	Unchanged int `json:"unchanged"`
}

// FileChange is one file added, removed or modified. Diff is the unified
// diff of a text file; a file with no Diff says why in DiffOmitted (binary,
// too large, the answer's limit reached).
type FileChange struct {
	Path          string       `json:"path"`
	Change        string       `json:"change"`
	From          *FileVersion `json:"from,omitempty"`
	To            *FileVersion `json:"to,omitempty"`
	Diff          string       `json:"diff,omitempty"`
	DiffTruncated bool         `json:"diff_truncated,omitempty"`
	DiffOmitted   string       `json:"diff_omitted,omitempty"`
}

// FileVersion is a file as one bundle holds it.
type FileVersion struct {
	// Kind is text, binary, symlink or hardlink.
	Kind string `json:"kind"`
	Size int64  `json:"size"`
	// Digest is "sha256:<hex>" of a file's content.
	Digest string `json:"digest,omitempty"`
	// Target is a link's target.
	Target string `json:"target,omitempty"`
}
