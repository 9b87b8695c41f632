// Package secrets keeps a project's flow secrets: named values a deployment
// declares and its runs receive as environment variables (docs/secrets.md).
// Values go in and come out only through Resolve, for the invoke path; no
// method lists or returns them otherwise.
package secrets

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kitaru/deployments/pkg/registry"
)

// MaxValueBytes bounds one secret's value (Secrets Manager allows 64 KiB;
// an environment variable this large is already unusual).
const MaxValueBytes = 32 << 10

// Info describes a stored secret without its value.
type Info struct {
	Name      string    `json:"name"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Store keeps flow secrets per project.
type Store interface {
	// Set creates or replaces a secret. Errors: invalid_argument (name or
	// value), payload_too_large (value over MaxValueBytes).
	Set(ctx context.Context, project, name, value string) (Info, error)
	// List returns the project's secrets by name, without values.
	List(ctx context.Context, project string) ([]Info, error)
	// Delete removes a secret. Errors: invalid_argument, not_found.
	Delete(ctx context.Context, project, name string) error
	// Resolve returns the values of names, for one run. Errors:
	// unprocessable naming every missing secret (details.missing).
	Resolve(ctx context.Context, project string, names []string) (map[string]string, error)
}

// ValidateValue checks a secret's value: non-empty UTF-8 without NUL bytes
// (it becomes an environment variable), at most MaxValueBytes. The message
// never quotes the value. Errors: invalid_argument, payload_too_large.
func ValidateValue(value string) error {
	switch {
	case value == "":
		return registry.Errorf(registry.CodeInvalidArgument, "field \"value\" is empty; send the secret's value")
	case len(value) > MaxValueBytes:
		return registry.Errorf(registry.CodePayloadTooLarge, "field \"value\" is %d bytes; a secret holds at most %d KiB", len(value), MaxValueBytes>>10).
			WithDetails("limit_bytes", MaxValueBytes)
	case !utf8.ValidString(value):
		return registry.Errorf(registry.CodeInvalidArgument, "field \"value\" is not valid UTF-8; encode binary secrets (e.g. base64) first")
	case strings.IndexByte(value, 0) >= 0:
		return registry.Errorf(registry.CodeInvalidArgument, "field \"value\" contains a NUL byte, which no environment variable can hold; encode it (e.g. base64) first")
	}
	return nil
}

// MissingError is Resolve's answer when names are not stored.
func MissingError(missing []string) error {
	return registry.Errorf(registry.CodeUnprocessable, "the deployment needs secrets that are not set in this project: %s; set them (PUT /v1/secrets/{name}) and invoke again", strings.Join(missing, ", ")).
		WithDetails("missing", missing).WithReason(registry.ReasonSecretMissing)
}

// NotFoundError is Delete's answer for a name the project does not have.
func NotFoundError(name string) error {
	return registry.Errorf(registry.CodeNotFound, "no secret %q in this project; GET /v1/secrets lists the names", name).
		WithDetails("name", name).WithReason(registry.ReasonSecretNotFound)
}
