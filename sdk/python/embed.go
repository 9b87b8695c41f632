// Package pysdk ships the kitaru Python package, the module flow files import
// (`from kitaru import flow`), so Go can write it next to the runner
// (pkg/runnerfiles).
package pysdk

import "embed"

// FS holds kitaru/*.py, the package's source files (every module: a new
// one is embedded without a change here).
//
//go:embed kitaru/*.py
var FS embed.FS
