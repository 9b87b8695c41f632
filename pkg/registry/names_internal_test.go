package registry

import (
	"regexp"
	"strings"
	"testing"
)

// TestNamePatternsMatchTheirRegexps checks the hand-written name rules
// against the regexps they replace, on names at and around every bound.
func TestNamePatternsMatchTheirRegexps(t *testing.T) {
	rules := []struct {
		name    string
		pattern namePattern
		regexp  *regexp.Regexp
	}{
		{"flow", flowPattern, regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,127}$`)},
		{"tag", tagPattern, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)},
		{"project", projectPattern, regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)},
		{"identifier", identifierPattern, regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)},
	}
	names := []string{"", "a", "A", "_", "0", "-", ".", "a-b", "a.b", "a_b", "aB9", "9a", "_x", "é", "aé", "a\x00", "a\n", "a b", "a:b", "a/b",
		"\xff", "a\xff", "Z", "z", "@", "[", "`", "{", "/", ":"}
	for _, n := range []int{62, 63, 64, 127, 128, 129, 1000} {
		for _, c := range []string{"a", "A", "0", "_", "-"} {
			names = append(names, c+strings.Repeat("b", n-1), "a"+strings.Repeat(c, n-1))
		}
	}
	for _, r := range rules {
		for _, name := range names {
			if got, want := r.pattern.MatchString(name), r.regexp.MatchString(name); got != want {
				t.Errorf("%s rule on %q (%d bytes) = %v; the regexp says %v", r.name, name, len(name), got, want)
			}
		}
	}
}
