// Package pyrunner runs a flow as a local python3 process, the Run step of
// kitaru dev: starting the runner, its environment, process groups and
// namespaces, stops and kills, and decoding its exit into an answer. The
// workflow itself (steps, retries, failures) is package workflow's.
//
// Flows run on Unix only (Linux, and macOS without namespaces); on other
// systems the package builds, so the CLI does, but every run fails with
// Runner.Unavailable. docs/dev-runner.md says what holds where.
package pyrunner

import (
	"io"
	"log/slog"

	"github.com/kitaru/deployments/pkg/workflow"
)

// DefaultMaxOutputBytes is how much of what one run prints reaches
// Runner.Stderr when MaxOutputBytes is 0.
const DefaultMaxOutputBytes = 1 << 20

// Environment is every variable a runner process gets besides the run's own
// flow secrets (RunRequest.Env, docs/secrets.md); nothing else of the
// server's environment reaches a flow (docs/dev-runner.md):
//   - PATH: the server's, or /usr/local/bin:/usr/bin:/bin;
//   - HOME and TMPDIR: a fresh directory per run, also the working directory,
//     removed when the run ends;
//   - LANG, LC_ALL, LC_CTYPE, TZ, SSL_CERT_FILE, SSL_CERT_DIR: the server's,
//     when set (locale, time zone, CA certificates: no secrets);
//   - PYTHONUNBUFFERED=1, PYTHONDONTWRITEBYTECODE=1, PYTHONNOUSERSITE=1.
var Environment = []string{
	"PATH", "HOME", "TMPDIR",
	"LANG", "LC_ALL", "LC_CTYPE", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR",
	"PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONNOUSERSITE",
}

// Runner runs a flow as `python3 <Dir>/runner.py`, the RunRequest JSON on
// stdin and one JSON answer on stdout (docs/executions.md, "The runner
// protocol"). On Linux with user namespaces each run is a process forked
// from a warm fork server (one per Dir, Python and HiddenDirs, started by
// Start or the first Run, stopped by Close) that has runner.py's imports and
// the kitaru package loaded; elsewhere, or when it cannot start, each run
// starts a new interpreter (docs/dev-runner.md). Flow code is untrusted: the process gets Environment only,
// runs in a fresh directory, and leads its own session; on Linux it also
// runs in its own user, PID and mount namespaces where the kernel allows
// them, so it cannot see or signal the server and nothing it starts
// outlives the run (docs/dev-runner.md says what holds where). A stop or a
// timeout sends SIGTERM to the group and SIGKILL a second later; at the end
// of every run whatever is left is killed.
type Runner struct {
	// Dir holds runner.py and the kitaru package. Isolated runs see it read-only.
	Dir string
	// Python is the interpreter; empty is python3 on PATH. It is resolved
	// once, with the server's environment, to the executable it runs (so a
	// pyenv shim works without the server's environment).
	Python string
	// Stderr, when set, also receives the runner's stderr (the flow's logs),
	// at most MaxOutputBytes of it per run, then a truncation marker.
	Stderr io.Writer
	// MaxOutputBytes caps what one run writes to Stderr; 0 is DefaultMaxOutputBytes.
	MaxOutputBytes int64
	// HiddenDirs are hidden from isolated runs (an empty directory is
	// mounted over each): kitaru dev's on-disk blobs, say.
	HiddenDirs []string
	// Logger hears when runs start cold because no fork server can run;
	// nil is slog.Default().
	Logger *slog.Logger
}

var _ workflow.Runner = Runner{}
