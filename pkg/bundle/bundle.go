// Package bundle builds and checks source bundles: the deterministic gzip'd
// tar of a project root that a deployment runs from (docs/executions.md).
// The CLI builds them; the server validates them before storing them under
// their content address.
package bundle

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
)

// Size limits of a bundle.
const (
	// DefaultMaxCompressed bounds a bundle as uploaded.
	DefaultMaxCompressed = 64 << 20
	// UncompressedFactor bounds the unpacked size relative to the compressed
	// limit, so a small archive cannot unpack into a huge tree (zip bomb).
	UncompressedFactor = 4
	// MaxInlineArchiveBytes bounds an archive sent inline in a deploy body
	// (decoded); larger bundles go through POST /v1/artifacts.
	MaxInlineArchiveBytes = 4 << 20
)

// Limits bound what Validate accepts. A zero field takes its default.
type Limits struct {
	Compressed   int64 // bytes of the gzip stream
	Uncompressed int64 // bytes of the tar stream inside it
}

// DefaultLimits are 64 MiB compressed and 256 MiB uncompressed.
var DefaultLimits = LimitsFor(DefaultMaxCompressed)

// LimitsFor returns the limits for a compressed limit: the uncompressed
// limit is UncompressedFactor times it.
func LimitsFor(compressed int64) Limits {
	return Limits{Compressed: compressed, Uncompressed: UncompressedFactor * compressed}
}

func (l Limits) withDefaults() Limits {
	if l.Compressed <= 0 {
		l.Compressed = DefaultLimits.Compressed
	}
	if l.Uncompressed <= 0 {
		l.Uncompressed = DefaultLimits.Uncompressed
	}
	return l
}

// DigestPrefix starts every bundle digest.
const DigestPrefix = "sha256:"

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// ValidateDigest checks that digest is "sha256:" and 64 lowercase hex digits.
// Errors: invalid_argument.
func ValidateDigest(digest string) error {
	if !digestPattern.MatchString(digest) {
		return registry.Errorf(registry.CodeInvalidArgument, "digest %q is invalid: use sha256: followed by 64 lowercase hex digits", clip(digest)).
			WithDetails("digest", clip(digest))
	}
	return nil
}

// KeyFor returns the blob key of the bundle with the given digest:
// bundles/sha256/<hex>. Errors: invalid_argument for a malformed digest.
func KeyFor(digest string) (string, error) {
	if err := ValidateDigest(digest); err != nil {
		return "", err
	}
	return "bundles/sha256/" + strings.TrimPrefix(digest, DigestPrefix), nil
}

var identifierPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseEntrypoint splits "flows/research.py:research_agent" into the file,
// relative to the project root and cleaned, and the function name. The file
// must be a relative .py path without "..", the function a Python identifier.
// Errors: invalid_argument.
func ParseEntrypoint(entrypoint string) (file, function string, err error) {
	file, function, ok := cutLast(entrypoint, ":")
	if !ok || file == "" || function == "" {
		return "", "", registry.Errorf(registry.CodeInvalidArgument, "entrypoint %q is not path/to/file.py:function_name", clip(entrypoint))
	}
	switch {
	case strings.HasPrefix(file, "/") || strings.Contains(file, `\`) || hasDrive(file):
		return "", "", registry.Errorf(registry.CodeInvalidArgument, "entrypoint file %q must be a path relative to the project root (where `kitaru init` was run), with / separators", clip(file))
	case hasDotDot(file):
		return "", "", registry.Errorf(registry.CodeInvalidArgument, "entrypoint file %q leaves the project root (..); deploy a file inside the directory where `kitaru init` was run", clip(file))
	case !strings.HasSuffix(file, ".py"):
		return "", "", registry.Errorf(registry.CodeInvalidArgument, "entrypoint file %q is not a Python file (.py)", clip(file))
	case !identifierPattern.MatchString(function):
		return "", "", registry.Errorf(registry.CodeInvalidArgument, "entrypoint function %q is not a Python identifier", clip(function))
	}
	return path.Clean(file), function, nil
}

func cutLast(s, sep string) (before, after string, found bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// hasDotDot reports whether a slash-separated path has a ".." element.
func hasDotDot(p string) bool {
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return true
		}
	}
	return false
}

// hasDrive reports a Windows drive prefix such as C:.
func hasDrive(p string) bool {
	return len(p) >= 2 && p[1] == ':' && (p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z')
}

// clip shortens untrusted text quoted back in messages.
func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// FormatSize renders a byte count for people: 512 bytes, 12.3 KiB, 4.0 MiB.
func FormatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
