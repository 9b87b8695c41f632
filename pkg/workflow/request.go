// Package workflow describes a snapshot execution once: the steps, their
// retry policy, timeouts and failure handling. It renders the description as
// the Step Functions state machine and runs it in process for kitaru dev;
// the Run step's python3 process is package pyrunner's, so this package
// builds and means the same on every platform. The JSON contracts are in
// docs/executions.md.
package workflow

import (
	"context"
	"encoding/json"
)

// URLRef points the runner at an object through a presigned URL.
type URLRef struct {
	Digest string `json:"digest,omitempty"`
	URL    string `json:"url"`
	Ref    string `json:"ref,omitempty"`
	// MaxBytes is the most the runner downloads from URL: for the bundle,
	// the compressed limit the deploy enforced (KITARU_MAX_BUNDLE_MB), which
	// also bounds the unpacked size (bundle.UncompressedFactor times it).
	// Omitted, the runner takes the default, bundle.DefaultMaxCompressed.
	MaxBytes int64 `json:"max_bytes,omitempty"`
}

// LogUpload is where the runner ships the execution's log: URLs[i] takes
// chunk i, bytes [i*ChunkBytes, (i+1)*ChunkBytes) of the log, PUT again as
// it grows. The log keeps at most MaxBytes, ending in a truncation marker
// when the flow printed more (docs/executions.md, "Execution logs").
type LogUpload struct {
	URLs       []string `json:"urls"`
	ChunkBytes int64    `json:"chunk_bytes"`
	MaxBytes   int64    `json:"max_bytes"`
}

// RunObject is what the runner reads once, at its start, through
// RunRequest.Run: one short-lived object per execution instead of the log's
// ten upload URLs and the secrets' own reference in the request, so the
// state machine input (and its 90-day history) stays small and holds one
// URL that stops working soon after the run starts. The execution's end
// deletes it (RemovingRunObjects).
type RunObject struct {
	// LogUpload is where the runner ships the execution's log; nil keeps none.
	LogUpload *LogUpload `json:"log_upload,omitempty"`
	// Secrets are the run's flow secrets, names to values, on executors that
	// pass the request on encoded (Step Functions); kitaru dev hands them in
	// process (RunRequest.Env) and leaves this empty.
	Secrets map[string]string `json:"secrets,omitempty"`
}

// RunRequest is the state machine's input, the runner's event and the dev
// runner's stdin: everything one execution needs.
type RunRequest struct {
	Project        string          `json:"project"`
	ExecID         string          `json:"exec_id"`
	Flow           string          `json:"flow"`
	Version        int             `json:"version"`
	Snapshot       string          `json:"snapshot"`
	Entrypoint     string          `json:"entrypoint"`
	Inputs         json.RawMessage `json:"inputs"`
	Bundle         URLRef          `json:"bundle"`
	ResultUpload   *URLRef         `json:"result_upload,omitempty"`
	TimeoutSeconds int             `json:"timeout_seconds,omitempty"`
	// Run points the runner at this execution's RunObject through a presigned
	// GET it reads once at start; nil runs keep no log and get no secrets by
	// reference.
	Run *URLRef `json:"run,omitempty"`
	// Env holds the flow secrets this run's process gets as environment
	// variables, resolved by the invoke for this execution only. It is never
	// encoded (no state machine input, history, stdin or log holds it): an
	// in-process executor hands it to its Runner, and an executor that can
	// only pass the request on encoded must refuse a request that has it.
	Env map[string]string `json:"-"`
}

// Executor starts and stops snapshot executions: Step Functions in AWS
// (pkg/sfn), the in-process interpreter under kitaru dev.
type Executor interface {
	// Start begins running req. Starting the same ExecID twice runs it once.
	Start(ctx context.Context, req RunRequest) error
	// Stop ends a running execution. The caller records it cancelled first.
	Stop(ctx context.Context, project, execID string) error
}
