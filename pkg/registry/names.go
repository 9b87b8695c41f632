package registry

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultTag is the reserved route every flow gets on its first deploy.
// It is always exclusive, never removable, only movable (I3).
const DefaultTag = "default"

// MaxInputsBytes bounds the JSON encoding of a deployment's or an invocation's inputs.
const MaxInputsBytes = 256 << 10

var (
	flowPattern    = namePattern{first: letters + "_", rest: letters + digits + "_.-", max: 128}
	tagPattern     = namePattern{first: letters + digits, rest: letters + digits + "_.-", max: 63}
	projectPattern = namePattern{first: lowercase + digits, rest: lowercase + digits + "_-", max: 63}
)

const (
	lowercase = "abcdefghijklmnopqrstuvwxyz"
	letters   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + lowercase
	digits    = "0123456789"
)

// namePattern is a name rule: one byte of first, then bytes of rest, at
// most max bytes in all (0: no bound). The rules are checked by hand, not
// by regexps: a regexp such as [A-Za-z0-9_.-]{0,127} compiles to hundreds
// of instructions, which a package-level MustCompile builds in the init of
// every process that links the domain (about 0.2 MB and 3,000 allocations
// of each Lambda cold start).
type namePattern struct {
	first, rest string
	max         int
}

// MatchString reports whether s follows the rule.
func (p namePattern) MatchString(s string) bool {
	if s == "" || p.max > 0 && len(s) > p.max || strings.IndexByte(p.first, s[0]) < 0 {
		return false
	}
	for i := 1; i < len(s); i++ {
		if strings.IndexByte(p.rest, s[i]) < 0 {
			return false
		}
	}
	return true
}

// ValidateFlowName checks a public flow name.
func ValidateFlowName(flow string) error {
	switch {
	case flow == "":
		return Errorf(CodeInvalidArgument, "flow name is empty; pass the flow's public name, e.g. research_agent")
	case strings.Contains(flow, "::"):
		return Errorf(CodeInvalidArgument, "flow name %q contains \"::\", which is reserved for snapshot names; rename the flow", clip(flow))
	case !flowPattern.MatchString(flow):
		return Errorf(CodeInvalidArgument, "flow name %q is invalid: start with a letter or _, then up to 127 letters, digits, _, . or -", clip(flow))
	}
	return nil
}

// ValidateTagName checks a tag name.
func ValidateTagName(tag string) error {
	switch {
	case tag == "":
		return Errorf(CodeInvalidArgument, "tag name is empty; use a name like stable or canary")
	case !tagPattern.MatchString(tag):
		return Errorf(CodeInvalidArgument, "tag name %q is invalid: start with a letter or digit, then up to 62 letters, digits, _, . or -", clip(tag))
	}
	return nil
}

// ValidateProject checks a project name.
func ValidateProject(project string) error {
	if !projectPattern.MatchString(project) {
		return Errorf(CodeInvalidArgument, "project %q is invalid: use up to 63 lowercase letters, digits, _ or -", clip(project))
	}
	return nil
}

// ValidateVersion checks a version number.
func ValidateVersion(version int) error {
	if version < 1 {
		return Errorf(CodeInvalidArgument, "version %d is invalid: versions are positive integers starting at 1", version)
	}
	return nil
}

// ParseVersion parses a version given as text (a path or query parameter).
// Only the canonical form is read: decimal digits without sign, spaces or
// leading zeros, so "+1" and "01" are refused rather than read as 1.
func ParseVersion(s string) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 || strconv.Itoa(v) != s {
		return 0, Errorf(CodeInvalidArgument, "version %q is invalid: versions are positive integers starting at 1, written without sign or leading zeros", clip(s))
	}
	return v, nil
}

// ParseRevision parses an If-Match header naming a tag revision: the
// revision as a bare or double-quoted canonical decimal (3 or "3"), with
// optional surrounding spaces. Weak tags (W/"3"), "*", lists, signs and
// leading zeros are refused: a compare-and-swap token is compared exactly.
func ParseRevision(ifMatch string) (int64, error) {
	s := strings.Trim(ifMatch, " \t")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	rev, err := strconv.ParseInt(s, 10, 64)
	if err != nil || rev < 0 || strconv.FormatInt(rev, 10) != s {
		return 0, Errorf(CodeInvalidArgument, "If-Match %q is not a tag revision; send the revision number from the tag, e.g. If-Match: 3 or If-Match: \"3\"", clip(ifMatch))
	}
	return rev, nil
}

// SnapshotName is the backend snapshot name of a deployment version.
func SnapshotName(flow string, version int) string {
	return fmt.Sprintf("kitaru::%s::v%d", flow, version)
}

// ParseSnapshotName splits a snapshot name built by SnapshotName.
func ParseSnapshotName(name string) (flow string, version int, err error) {
	rest, ok := strings.CutPrefix(name, "kitaru::")
	if !ok {
		return "", 0, Errorf(CodeInvalidArgument, "snapshot name %q does not start with kitaru::", clip(name))
	}
	flow, v, ok := strings.Cut(rest, "::v")
	if !ok || strings.Contains(v, "::") {
		return "", 0, Errorf(CodeInvalidArgument, "snapshot name %q is not kitaru::<flow>::v<N>", clip(name))
	}
	if err := ValidateFlowName(flow); err != nil {
		return "", 0, err
	}
	version, err = ParseVersion(v)
	if err != nil || strconv.Itoa(version) != v {
		return "", 0, Errorf(CodeInvalidArgument, "snapshot name %q has an invalid version", clip(name))
	}
	return flow, version, nil
}

// clip keeps user-supplied text in messages short.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
