// Package pysig reads a flow's input contract from its Python source without
// importing it: it runs the SDK's kitaru/signature.py (embedded through
// sdk/python) with python3, so kitaru deploy, the MCP deploy tool and the
// Python SDK derive the same JSON Schema for the same function.
package pysig

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	pysdk "github.com/kitaru/deployments/sdk/python"
)

// PythonEnv names the interpreter to run instead of python3.
const PythonEnv = "KITARU_PYTHON"

// timeout bounds one run: parsing a file takes milliseconds; a hung
// interpreter must not hang a deploy.
const timeout = 30 * time.Second

// ErrNoPython is returned when no interpreter can be started.
var ErrNoPython = errors.New("python3 not found")

// Function is what the helper found for a name in a file.
type Function struct {
	// Found reports whether the file binds the name at module level.
	Found bool `json:"found"`
	// Schema is the derived input schema; nil when the name is bound by
	// something other than a def in the file (an import, a class).
	Schema json.RawMessage `json:"schema"`
	// Reason says why Schema is nil when Found.
	Reason string `json:"reason"`
	// Functions lists the module-level functions the file defines, when not Found.
	Functions []string `json:"functions"`
}

// ParseError is the helper's answer for a file it cannot read or parse
// (a syntax error, bad encoding); the message names the line and the
// interpreter's version.
type ParseError struct{ Message string }

func (e *ParseError) Error() string { return e.Message }

// Python is the interpreter Lookup runs: $KITARU_PYTHON, else python3.
func Python() string {
	if p := os.Getenv(PythonEnv); p != "" {
		return p
	}
	return "python3"
}

// Lookup finds function at module level of the Python file and derives its
// input schema. Errors: ErrNoPython (wrapped) when the interpreter is
// missing, *ParseError when the file cannot be parsed or read.
func Lookup(ctx context.Context, file, function string) (Function, error) {
	src, err := pysdk.FS.ReadFile("kitaru/signature.py")
	if err != nil {
		return Function{}, fmt.Errorf("signature helper: %w", err)
	}
	python := Python()
	if _, err := exec.LookPath(python); err != nil {
		return Function{}, fmt.Errorf("%w (looked for %q; set %s to another interpreter)", ErrNoPython, python, PythonEnv)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// -I: no user site, no PYTHON* variables, no script directory on the
	// path; -S: no site import. The helper is stdlib-only and never imports
	// the file it reads.
	cmd := exec.CommandContext(ctx, python, "-I", "-S", "-", file, function)
	cmd.Stdin = bytes.NewReader(src)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var answer struct {
		Function
		Error string `json:"error"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &answer); err != nil {
		if runErr == nil {
			runErr = err
		}
		return Function{}, fmt.Errorf("read %s with %s: %w: %s", file, python, runErr, clip(stderr.String()))
	}
	if answer.Error != "" {
		return Function{}, &ParseError{Message: answer.Error}
	}
	if string(answer.Schema) == "null" {
		answer.Schema = nil
	}
	return answer.Function, nil
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 500 {
		return s[len(s)-500:]
	}
	return s
}
