package registry

import (
	"slices"
	"strings"
)

// MaxSecretsPerDeployment bounds the secret names one deployment declares.
const MaxSecretsPerDeployment = 50

// secretNamePattern is an environment variable name: ^[A-Z_][A-Z0-9_]{0,127}$.
var secretNamePattern = namePattern{first: "ABCDEFGHIJKLMNOPQRSTUVWXYZ_", rest: "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", max: 128}

// ReservedSecretPrefixes start names a secret cannot take: they belong to the
// platform (AWS_, LAMBDA_, KITARU_), the interpreter (PYTHON) or the dynamic
// loader (LD_, DYLD_), so a secret could shadow or subvert them.
var ReservedSecretPrefixes = []string{"AWS_", "KITARU_", "LAMBDA_", "PYTHON", "LD_", "DYLD_"}

// reservedSecretNames are the variables the runner sets itself (the
// documented minimal environment); a secret cannot replace them.
var reservedSecretNames = []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "_HANDLER"}

// ValidateSecretName checks a flow secret's name: an environment variable
// name of capitals, digits and _, not reserved. Errors: invalid_argument.
func ValidateSecretName(name string) error {
	if !secretNamePattern.MatchString(name) {
		return Errorf(CodeInvalidArgument, "secret name %q is invalid: it becomes an environment variable, so use A-Z, 0-9 and _, starting with a letter or _, at most 128 characters (e.g. OPENAI_API_KEY)", clip(name)).
			WithDetails("name", clip(name))
	}
	for _, p := range ReservedSecretPrefixes {
		if strings.HasPrefix(name, p) {
			return Errorf(CodeInvalidArgument, "secret name %q starts with %s, which is reserved for the platform; choose another name", name, p).
				WithDetails("name", name)
		}
	}
	if slices.Contains(reservedSecretNames, name) {
		return Errorf(CodeInvalidArgument, "secret name %q is a variable the runner sets itself; choose another name", name).
			WithDetails("name", name)
	}
	return nil
}

// NormalizeSecretNames validates the secret names a deployment declares and
// returns them sorted without repeats; none is nil. Errors: invalid_argument.
func NormalizeSecretNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		if err := ValidateSecretName(n); err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	if len(out) > MaxSecretsPerDeployment {
		return nil, Errorf(CodeInvalidArgument, "field \"secrets\" names %d secrets; a deployment may declare at most %d", len(out), MaxSecretsPerDeployment)
	}
	slices.Sort(out)
	return out, nil
}
