package sfn

import (
	"regexp"
	"strings"
	"testing"
)

// TestIsExecNameMatchesTheRegexpItReplaces checks the hand-written rule
// against the regexp it replaces, at and around its bounds.
func TestIsExecNameMatchesTheRegexpItReplaces(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
	names := []string{"", "a", "Z", "0", "_", "-", "ex_01jb3z0k6v3h0m8n9p7q2r4s5t", "a.b", "a b", "a:b", "é", "a\xff", "a\n", "@", "[", "`", "{", "/"}
	for _, n := range []int{79, 80, 81} {
		names = append(names, strings.Repeat("a", n), strings.Repeat("-", n))
	}
	for _, name := range names {
		if got, want := isExecName(name), re.MatchString(name); got != want {
			t.Errorf("isExecName(%q) = %v; the regexp says %v", name, got, want)
		}
	}
}
