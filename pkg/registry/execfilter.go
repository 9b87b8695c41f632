package registry

import "time"

// ExecutionFilter narrows a flow's execution list (docs/executions.md).
// Every field set must hold; the zero filter lists every execution.
type ExecutionFilter struct {
	// Version keeps the executions that ran this version, however they
	// were invoked (by tag, by version, or pinned).
	Version int
	// Tag keeps the executions invoked through this tag: their selector
	// names it. An invocation by version is never one of them, even when
	// the tag pointed at that version.
	Tag string
	// Status keeps the executions in this state.
	Status ExecStatus
	// Since keeps the executions started at or after this time.
	Since time.Time
}

// Validate checks the filter. Errors: invalid_argument.
func (f ExecutionFilter) Validate() error {
	if f.Version != 0 {
		if err := ValidateVersion(f.Version); err != nil {
			return err
		}
	}
	if f.Tag != "" {
		if err := ValidateTagName(f.Tag); err != nil {
			return err
		}
	}
	switch f.Status {
	case "", StatusRunning, StatusCompleted, StatusFailed, StatusCancelled:
	default:
		return Errorf(CodeInvalidArgument, "status %q is not one of running, completed, failed, cancelled", f.Status).WithDetails("status", string(f.Status))
	}
	return nil
}

// Matches reports whether e passes the filter.
func (f ExecutionFilter) Matches(e Execution) bool {
	return (f.Version == 0 || e.Version == f.Version) &&
		(f.Tag == "" || e.Selector.Tag == f.Tag) &&
		(f.Status == "" || e.Status == f.Status) &&
		(f.Since.IsZero() || !e.StartedAt.Before(f.Since))
}

// IsZero reports a filter that keeps every execution.
func (f ExecutionFilter) IsZero() bool { return f == ExecutionFilter{} }

// SinceSkew is how far an execution's start may precede the start of a
// later-numbered one (exec ids are time-ordered, made as the invocation
// starts): a newest-first listing filtered by Since stops reading once it
// passes executions started this long before Since.
const SinceSkew = time.Minute
