// Package runner ships the snapshot runner, runner.py: the Python Lambda
// handler (runner.handler) and the process kitaru dev runs (python3
// runner.py). The protocol is in docs/executions.md; pkg/runnerfiles writes
// it next to the kitaru package.
package runner

import _ "embed"

// Source is runner.py.
//
//go:embed runner.py
var Source []byte
