package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Source describes the saved source bundle of a deployment.
type Source struct {
	Digest string `json:"digest,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Commit string `json:"commit,omitempty"`
	Dirty  bool   `json:"dirty,omitempty"`
}

// Deployment is one immutable, numbered version of a flow.
type Deployment struct {
	Project     string          `json:"project"`
	Flow        string          `json:"flow"`
	Version     int             `json:"version"`
	Snapshot    string          `json:"snapshot"`
	Tags        map[string]bool `json:"tags"` // tag name → exclusive
	Entrypoint  string          `json:"entrypoint"`
	Source      *Source         `json:"source,omitempty"`
	Inputs      json.RawMessage `json:"inputs"`
	InputSchema json.RawMessage `json:"input_schema,omitempty"`
	Stack       string          `json:"stack"`
	Description string          `json:"description,omitempty"`
	// Secrets names the flow secrets its runs get as environment variables.
	Secrets   []string  `json:"secrets,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// DeployRequest is what a producer asks for; the store assigns the version.
type DeployRequest struct {
	Project     string
	Flow        string
	Entrypoint  string
	Source      *Source
	Inputs      json.RawMessage
	InputSchema json.RawMessage
	Tag         string // the one routing tag; empty means DefaultTag (I6)
	Exclusive   bool
	// Build saves the version without a routing tag (`kitaru build`): only
	// the flow's first version gets `default`, which always exists once a
	// version does (I3). Tag must then be empty.
	Build       bool
	Stack       string
	Description string
	// Secrets names the flow secrets the version's runs need (sorted, no
	// repeats after Normalize); their values are resolved at invoke time.
	Secrets []string
	By      string
}

// Normalize applies the deploy rules: the routing tag defaults to `default`,
// `default` is always exclusive (I3), names and inputs are valid, and the
// inputs fit the input schema when one is given (missing required inputs
// aside). Errors: invalid_argument, payload_too_large, unprocessable.
func (r *DeployRequest) Normalize() error {
	if err := ValidateProject(r.Project); err != nil {
		return err
	}
	if err := ValidateFlowName(r.Flow); err != nil {
		return err
	}
	file, function, err := ParseEntrypoint(r.Entrypoint)
	if err != nil {
		return err
	}
	r.Entrypoint = file + ":" + function
	if r.Build {
		if r.Tag != "" {
			return Errorf(CodeInvalidArgument, "a build saves a version without a routing tag, but tag %q was given; leave tag out, or deploy instead of building", r.Tag).
				WithDetails("tag", r.Tag)
		}
		r.Exclusive = false
	} else if r.Tag == "" {
		r.Tag = DefaultTag
	}
	if err := r.validateTag(); err != nil {
		return err
	}
	if r.Tag == DefaultTag {
		r.Exclusive = true
	}
	if len(r.Description) > 1024 {
		return Errorf(CodeInvalidArgument, "description is longer than 1024 bytes; shorten it")
	}
	if r.Secrets, err = NormalizeSecretNames(r.Secrets); err != nil {
		return err
	}
	inputs, err := NormalizeInputs(r.Inputs)
	if err != nil {
		return err
	}
	r.Inputs = inputs
	// No schema means none: the server never makes one up, and inputs then
	// only need to be an object. A given schema must accept the deploy-time
	// inputs, except for required inputs the invoker may still supply.
	if t := bytes.TrimSpace(r.InputSchema); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		r.InputSchema = nil
		return nil
	}
	schema, err := CompileInputSchema(r.InputSchema)
	if err != nil {
		return err
	}
	return schema.ValidateDeployInputs(r.Inputs)
}

// NormalizeInputs checks that inputs are a JSON object of at most
// MaxInputsBytes that passes CheckJSON (unique keys, numbers a float64 holds,
// at most MaxJSONDepth levels) and returns them compacted; absent inputs become {}.
func NormalizeInputs(raw json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return json.RawMessage(`{}`), nil
	}
	if len(trimmed) > MaxInputsBytes {
		return nil, Errorf(CodePayloadTooLarge, "inputs are %d bytes; the limit is %d KiB: pass large data by reference (a URL or object key)", len(trimmed), MaxInputsBytes>>10).
			WithDetails("limit_bytes", MaxInputsBytes)
	}
	if trimmed[0] != '{' {
		return nil, Errorf(CodeInvalidArgument, "inputs must be a JSON object like {\"topic\": \"...\"}")
	}
	if err := CheckJSON(trimmed, "inputs", MaxJSONDepth); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, Errorf(CodeInvalidArgument, "inputs are not valid JSON: %v", err)
	}
	return buf.Bytes(), nil
}

// MergeInputs overlays invoke-time inputs on deploy-time inputs, key by key at the top level.
func MergeInputs(deployed, invoked json.RawMessage) (json.RawMessage, error) {
	base := map[string]json.RawMessage{}
	if err := json.Unmarshal(deployed, &base); err != nil {
		return nil, fmt.Errorf("decode deployed inputs: %w", err)
	}
	var over map[string]json.RawMessage
	if err := json.Unmarshal(invoked, &over); err != nil {
		return nil, Errorf(CodeInvalidArgument, "inputs must be a JSON object")
	}
	for k, v := range over {
		base[k] = v
	}
	return json.Marshal(base)
}

// validateTag checks the routing tag's name; a build has none.
func (r *DeployRequest) validateTag() error {
	if r.Build {
		return nil
	}
	return ValidateTagName(r.Tag)
}
