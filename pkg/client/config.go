package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
)

// Environment variables of the connection. Each one overrides the same
// value of the config file.
const (
	EnvServerURL = "KITARU_SERVER_URL"
	EnvAuthToken = "KITARU_AUTH_TOKEN"
	EnvProject   = "KITARU_PROJECT"
	// EnvConfigDir moves the config file to $KITARU_CONFIG_DIR/config.json.
	EnvConfigDir = "KITARU_CONFIG_DIR"
)

// apiKeyPrefix starts every API key (auth.KeyPrefix; not imported to keep
// the client free of the server's signing code).
const apiKeyPrefix = "kat_"

// loginHint is the command that stores a whole connection.
const loginHint = `"kitaru login URL --api-key KEY --project P"`

// Connection is where the Kitaru server is, how to authenticate to it and
// which project to act in.
type Connection struct {
	ServerURL string `json:"server_url,omitempty"`
	// AuthToken is an API key (kat_…) or a short-lived token; either is
	// sent as "Authorization: Bearer".
	AuthToken string `json:"auth_token,omitempty"`
	// Project is sent as X-Kitaru-Project; empty lets the server use the
	// key's only project.
	Project string `json:"project,omitempty"`
}

// HasAPIKey reports whether AuthToken is an API key rather than a token.
func (c Connection) HasAPIKey() bool { return strings.HasPrefix(c.AuthToken, apiKeyPrefix) }

// Require returns a one-line error naming what to set when the server URL
// or the credential is missing. Errors: precondition_failed.
func (c Connection) Require() error {
	switch {
	case c.ServerURL == "" && c.AuthToken == "":
		return registry.Errorf(registry.CodePreconditionFailed, "no Kitaru server: run %s or set %s and %s", loginHint, EnvServerURL, EnvAuthToken)
	case c.ServerURL == "":
		return registry.Errorf(registry.CodePreconditionFailed, "no Kitaru server URL: set %s or run %s", EnvServerURL, loginHint)
	case c.AuthToken == "":
		return registry.Errorf(registry.CodePreconditionFailed, "no credentials for the Kitaru server at %s: set %s to an API key or token, or run %s", c.ServerURL, EnvAuthToken, loginHint)
	}
	return nil
}

// ValueSource says where a connection value came from.
type ValueSource string

// Sources of connection values.
const (
	SourceEnv    ValueSource = "env"
	SourceFile   ValueSource = "file"
	SourceNotSet ValueSource = "not set"
)

// Sources says where each value of a Connection came from.
type Sources struct {
	ServerURL, AuthToken, Project ValueSource
}

// ConfigPath returns the config file: $KITARU_CONFIG_DIR/config.json when
// that is set, else kitaru/config.json under os.UserConfigDir.
func ConfigPath(getenv func(string) string) (string, error) {
	if dir := getenv(EnvConfigDir); dir != "" {
		return filepath.Join(dir, "config.json"), nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the Kitaru config directory: %w; set %s", err, EnvConfigDir)
	}
	return filepath.Join(dir, "kitaru", "config.json"), nil
}

// LoadConnection reads the config file (a missing one is empty) and
// overrides each value that is set in the environment getenv reads.
// Errors: a config file that cannot be read or parsed.
func LoadConnection(getenv func(string) string) (Connection, Sources, error) {
	path, err := ConfigPath(getenv)
	if err != nil {
		return Connection{}, Sources{}, err
	}
	var file Connection
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Connection{}, Sources{}, fmt.Errorf("read the Kitaru config %s: %w", path, err)
	default:
		if err := json.Unmarshal(data, &file); err != nil {
			return Connection{}, Sources{}, fmt.Errorf("the Kitaru config %s is not valid JSON (%v): run \"kitaru logout\" and log in again", path, err)
		}
	}
	var conn Connection
	var src Sources
	pick := func(dst *string, from *ValueSource, env, saved string) {
		switch v := getenv(env); {
		case v != "":
			*dst, *from = v, SourceEnv
		case saved != "":
			*dst, *from = saved, SourceFile
		default:
			*from = SourceNotSet
		}
	}
	pick(&conn.ServerURL, &src.ServerURL, EnvServerURL, file.ServerURL)
	pick(&conn.AuthToken, &src.AuthToken, EnvAuthToken, file.AuthToken)
	pick(&conn.Project, &src.Project, EnvProject, file.Project)
	return conn, src, nil
}

// SaveConnection writes conn to path atomically (a temporary file renamed
// over it) with mode 0600 in a directory created with mode 0700: the file
// holds a credential.
func SaveConnection(path string, conn Connection) error {
	data, err := json.MarshalIndent(conn, "", "  ")
	if err != nil {
		return fmt.Errorf("save the Kitaru config: %w", err)
	}
	if err := writePrivateFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("save the Kitaru config: %w", err)
	}
	return nil
}

// writePrivateFile writes data to path atomically (a temporary file
// renamed over it) with mode 0600, in a directory created with mode 0700.
func writePrivateFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// RemoveConnection deletes the config file at path. It reports whether
// there was one; a missing file is not an error.
func RemoveConnection(path string) (removed bool, err error) {
	err = os.Remove(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("remove the Kitaru config: %w", err)
	}
	return true, nil
}

// FromConnection returns a client of conn's server sending its credential
// and project. Errors: precondition_failed (see Connection.Require),
// invalid_argument (a malformed server URL).
func FromConnection(conn Connection, opts ...Option) (*Client, error) {
	if err := conn.Require(); err != nil {
		return nil, err
	}
	c, err := New(conn.ServerURL, append([]Option{WithAuthToken(conn.AuthToken), WithProject(conn.Project)}, opts...)...)
	if err != nil {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "%v", err)
	}
	return c, nil
}

// NewFromEnvironment returns a client of the active connection: the one
// `kitaru login` saved, each value overridden by KITARU_SERVER_URL,
// KITARU_AUTH_TOKEN and KITARU_PROJECT when set. Errors: as LoadConnection
// and FromConnection.
func NewFromEnvironment(opts ...Option) (*Client, error) {
	conn, _, err := LoadConnection(os.Getenv)
	if err != nil {
		return nil, err
	}
	return FromConnection(conn, opts...)
}
