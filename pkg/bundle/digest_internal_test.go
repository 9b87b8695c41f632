package bundle

import (
	"regexp"
	"strings"
	"testing"
)

// TestIsDigestMatchesTheRegexpItReplaces checks the hand-written rule
// against the regexp it replaces, at and around its bounds.
func TestIsDigestMatchesTheRegexpItReplaces(t *testing.T) {
	re := regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	hex := strings.Repeat("0123456789abcdef", 4)
	digests := []string{"", "sha256:", "sha256:" + hex, "sha256:" + hex[:63], "sha256:" + hex + "0", "SHA256:" + hex, "sha512:" + hex,
		"sha256:" + strings.ToUpper(hex), "sha256:" + hex[:63] + "g", "sha256:" + hex[:63] + "\n", " sha256:" + hex, hex, "sha256:" + hex[:62] + "é"}
	for _, d := range digests {
		if got, want := isDigest(d), re.MatchString(d); got != want {
			t.Errorf("isDigest(%q) = %v; the regexp says %v", d, got, want)
		}
	}
}
