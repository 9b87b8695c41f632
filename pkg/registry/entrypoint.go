package registry

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// EntrypointRule states what an entrypoint may be. runner.py's
// parse_entrypoint applies the same rule when the flow runs, and both test
// suites read functions/runner/entrypoint_cases.json, so a deploy is refused
// exactly when its runs would be.
const EntrypointRule = `an entrypoint is path/to/file.py:function: ` +
	`a path relative to the project root with / separators, no ".." segment, no ":", no "\" and no control characters, naming a .py file; ` +
	`then one ":" and a Python identifier of ASCII letters, digits and _ (not starting with a digit) that is not a Python keyword`

// MaxEntrypointBytes bounds an entrypoint.
const MaxEntrypointBytes = 1024

var identifierPattern = namePattern{first: letters + "_", rest: letters + digits + "_"}

// pythonKeywords are Python 3's keyword.kwlist: names a def cannot take.
// Soft keywords (match, case, type, _) can name a function and are allowed.
var pythonKeywords = []string{
	"False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
	"def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
	"in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
}

// ParseEntrypoint splits "flows/research.py:research_agent" into the file,
// cleaned of "." segments and repeated slashes, and the function name, by
// EntrypointRule. Errors: invalid_argument naming the rule.
func ParseEntrypoint(entrypoint string) (file, function string, err error) {
	refuse := func(why string) (string, string, error) {
		return "", "", Errorf(CodeInvalidArgument, "entrypoint %q %s; %s", clip(entrypoint), why, EntrypointRule).
			WithDetails("field", "entrypoint")
	}
	switch {
	case entrypoint == "":
		return refuse("is empty")
	case len(entrypoint) > MaxEntrypointBytes:
		return refuse("is longer than 1024 bytes")
	case !utf8.ValidString(entrypoint) || strings.ContainsFunc(entrypoint, isControl):
		return refuse("contains control characters or invalid UTF-8")
	case strings.Count(entrypoint, ":") != 1:
		return refuse(`must contain exactly one ":"`)
	}
	file, function, _ = strings.Cut(entrypoint, ":")
	var segments []string
	for seg := range strings.SplitSeq(file, "/") {
		if seg != "" && seg != "." {
			segments = append(segments, seg)
		}
	}
	switch {
	case strings.HasPrefix(file, "/") || strings.Contains(file, `\`):
		return refuse("must be relative to the project root, with / separators")
	case slices.Contains(segments, ".."):
		return refuse(`leaves the project root ("..")`)
	case len(segments) == 0 || strings.HasSuffix(file, "/") || len(segments[len(segments)-1]) <= len(".py") || !strings.HasSuffix(file, ".py"):
		return refuse("does not name a .py file")
	case !identifierPattern.MatchString(function):
		return refuse("does not end in a Python identifier")
	case slices.Contains(pythonKeywords, function):
		return refuse("ends in a Python keyword")
	}
	return strings.Join(segments, "/"), function, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// SplitTarget splits a deploy target as a user types it, a local path to a
// .py file then ":" and the function (kitaru deploy flows/research.py:agent,
// C:\proj\flows\agent.py:agent), by the function part of EntrypointRule:
// the path is local, so it may be absolute or use the OS's separators, and
// a Windows drive's colon is the only other ":" allowed. The function is
// also the flow's public name. Errors: invalid_argument saying what to pass.
func SplitTarget(target string) (file, function string, err error) {
	refuse := func(why string) (string, string, error) {
		return "", "", Errorf(CodeInvalidArgument, "target %q %s; pass path/to/file.py:function, e.g. flows/research.py:research_agent", clip(target), why).
			WithDetails("field", "target")
	}
	i := strings.LastIndex(target, ":")
	if i < 0 {
		return refuse(`has no ":" before the function name`)
	}
	file, function = target[:i], target[i+1:]
	switch drive := len(file) >= 2 && file[1] == ':' && isLetter(file[0]); {
	case strings.Contains(file, ":") && !(drive && strings.Count(file, ":") == 1):
		return refuse(`has more than one ":"`)
	case file == "" || strings.HasSuffix(file, "/") || strings.HasSuffix(file, `\`):
		return refuse("names no file before the colon")
	case !strings.HasSuffix(file, ".py"):
		return refuse("does not name a .py file")
	case function == "":
		return refuse(`has no function name after the ":"`)
	case !identifierPattern.MatchString(function) || slices.Contains(pythonKeywords, function):
		return refuse("does not end in a Python function name (letters, digits and _, not a keyword)")
	}
	if err := ValidateFlowName(function); err != nil {
		return "", "", err
	}
	return file, function, nil
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
