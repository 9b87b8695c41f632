// Package bundle builds and checks source bundles: the deterministic gzip'd
// tar of a project root that a deployment runs from (docs/executions.md).
// The CLI builds them; the server validates them before storing them under
// their content address.
package bundle

import (
	"fmt"
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

// Caps on what one bundle may hold, checked while the archive is read, each
// before any work per path segment, so that validation costs time linear in
// the archive (issue #12). The runner (functions/runner/runner.py) enforces
// the same numbers; a test keeps them equal.
const (
	// MaxMembers bounds the members of a bundle (files, directories, links).
	MaxMembers = 100_000
	// MaxNameBytes bounds a member name, as Linux's PATH_MAX does a path.
	MaxNameBytes = 4096
	// MaxLinkTargetBytes bounds a symlink or hard link target.
	MaxLinkTargetBytes = 4096
	// MaxPathSegments bounds the /-separated segments of a member name or a
	// link target.
	MaxPathSegments = 256
	// MaxPaths bounds the distinct paths of a bundle: its members and the
	// directories their names imply.
	MaxPaths = 4 * MaxMembers
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

// WithDefaults fills a zero (unset) limit with DefaultLimits' value.
func (l Limits) WithDefaults() Limits {
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

// isDigest reports whether s is DigestPrefix and 64 lowercase hex digits;
// checked by hand rather than by a package-level regexp, which would compile
// at every cold start.
func isDigest(s string) bool {
	hex, ok := strings.CutPrefix(s, DigestPrefix)
	if !ok || len(hex) != 64 {
		return false
	}
	for i := range len(hex) {
		if c := hex[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ValidateDigest checks that digest is "sha256:" and 64 lowercase hex digits.
// Errors: invalid_argument.
func ValidateDigest(digest string) error {
	if !isDigest(digest) {
		return registry.Errorf(registry.CodeInvalidArgument, "digest %q is invalid: use sha256: followed by 64 lowercase hex digits", clip(digest)).
			WithDetails("digest", clip(digest))
	}
	return nil
}

// KeyFor returns the blob key of a project's bundle with the given digest:
// bundles/<project>/sha256/<hex>. Bundles are content-addressed within a
// project only, so no project can see, use or overwrite another's (issue
// #12). Errors: invalid_argument for a malformed project or digest.
func KeyFor(project, digest string) (string, error) {
	if err := registry.ValidateProject(project); err != nil {
		return "", err
	}
	if err := ValidateDigest(digest); err != nil {
		return "", err
	}
	return "bundles/" + project + "/sha256/" + strings.TrimPrefix(digest, DigestPrefix), nil
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
