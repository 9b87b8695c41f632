package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// codeStillRunning is the -o json error code when --wait times out. It is
// the CLI's own: the server has no such error.
const codeStillRunning registry.Code = "still_running"

type invokeOptions struct {
	tag            string
	version        int
	inputs         inputsFlag
	idempotencyKey string
	stickyKey      string
	wait           bool
	logs           bool
	timeout        time.Duration
	output         outputFlag
}

func newInvokeCommand() *cobra.Command {
	var opts invokeOptions
	cmd := &cobra.Command{
		Use:   "invoke FLOW",
		Short: "Start an execution of a deployed flow",
		Long: `invoke starts a new execution of a deployed flow from its saved snapshot,
chosen by --tag or --version; with neither, the default tag. --input values
override the deployment's representative inputs key by key.

It prints the execution id and status. With --wait it waits until the
execution ends and prints its result as JSON; a failed or cancelled execution
exits 1, and so does one still running after --timeout (with -o json its
error code is "` + string(codeStillRunning) + `").
` + serverHelp,
		Example: `  kitaru invoke research_agent --tag stable --input '{"topic": "deployment routing"}'
  kitaru invoke research_agent --version 2 --wait --timeout 5m`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, _ []string) error {
			// Checked here rather than with MarkFlagsMutuallyExclusive, which
			// cobra runs after the point where Run stops calling errors usage errors.
			f := cmd.Flags()
			if err := checkSelectorFlags(cmd, opts.version); err != nil {
				return err
			}
			if f.Changed("timeout") && !opts.wait {
				return errors.New("--timeout needs --wait")
			}
			if opts.logs && !opts.wait {
				return errors.New("--logs needs --wait")
			}
			if opts.timeout <= 0 {
				return errors.New("--timeout must be positive")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInvoke(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.tag, "tag", "", "routing tag to invoke (default: default)")
	f.IntVar(&opts.version, "version", 0, "exact version to invoke")
	f.Var(&opts.inputs, "input", "inputs overriding the deployment's: a JSON object, or @file to read one")
	f.StringVar(&opts.stickyKey, "sticky-key", "", "for a split tag: the same key (a user id, say) always runs the same version while the split is unchanged")
	f.StringVar(&opts.idempotencyKey, "idempotency-key", "", "retrying with the same key within 24 h returns the same execution instead of starting another")
	f.BoolVar(&opts.wait, "wait", false, "wait for the execution to end and print its result")
	f.DurationVar(&opts.timeout, "timeout", 10*time.Minute, "with --wait, how long to wait")
	f.BoolVar(&opts.logs, "logs", false, "with --wait, print the execution's log on stderr as it arrives")
	f.VarP(&opts.output, "output", "o", "output format: text or json")
	return cmd
}

func runInvoke(ctx context.Context, stdout, stderr io.Writer, flow string, opts invokeOptions) error {
	fail := func(err error) error { return report(stderr, "invoke", opts.output, err) }
	outage := newServerOutage()
	c, conn, err := serverClient(outage.clientOption())
	if err != nil {
		return fail(err)
	}
	inputs, err := inputsObject(opts.inputs.raw)
	if err != nil {
		return fail(err)
	}
	h, err := c.Deployments().Invoke(ctx, flow, client.InvokeOptions{
		Selector: client.Selector{Tag: opts.tag, Version: opts.version, StickyKey: opts.stickyKey}, Inputs: inputs, IdempotencyKey: opts.idempotencyKey,
	})
	if err != nil {
		return fail(err)
	}
	exec := h.Execution
	started := startedLine(exec)
	if h.Replayed {
		// The key's earlier request (the same one: another is refused) started it.
		started = fmt.Sprintf("Execution %s of %s version %d was already started by an earlier request with idempotency key %q: %s", exec.ExecID, exec.Flow, exec.Version, opts.idempotencyKey, exec.Status)
	}
	if !opts.wait {
		if opts.output.json() {
			return writeJSON(stdout, envelope{Command: "invoke", Item: exec})
		}
		fmt.Fprintln(stdout, started)
		return nil
	}
	if !opts.output.json() {
		// Progress goes to stderr so that stdout is the result alone.
		fmt.Fprintln(stderr, started+"; waiting for it to end")
	}
	timeout := opts.timeout
	if opts.logs {
		timeout = followLogsWhileWaiting(ctx, stderr, c, exec.ExecID, timeout)
	}
	return awaitOutcome(ctx, stdout, stderr, "invoke", opts.output, timeout, c, conn, outage, exec)
}

// followLogsWhileWaiting prints the execution's log on stderr until it
// ends or timeout passes, and returns what is left of timeout for the wait
// that reads the outcome. A log that cannot be read is noted, not fatal:
// the outcome is what --wait reports.
func followLogsWhileWaiting(ctx context.Context, stderr io.Writer, c *client.Client, id string, timeout time.Duration) time.Duration {
	start := time.Now()
	fctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Executions().FollowLogs(fctx, id, "", stderr); err != nil && fctx.Err() == nil {
		fmt.Fprintf(stderr, "(the execution's log could not be read: %v)\n", err)
	}
	return max(timeout-time.Since(start), time.Millisecond)
}

// awaitOutcome waits up to timeout for exec to end and prints how it ended:
// the result on stdout, or why it did not complete on stderr, exiting 1
// (with -o json the ended execution is the item either way). One still
// running at the timeout is a still_running error naming how to check it.
// On a terminal, text output shows the wait's progress on stderr. c must
// send its requests through outage, which ends the wait when the server
// stops answering.
func awaitOutcome(ctx context.Context, stdout, stderr io.Writer, command string, output outputFlag, timeout time.Duration, c *client.Client, conn connection, outage *serverOutage, exec registry.Execution) error {
	fail := func(err error) error { return report(stderr, command, output, err) }
	var progress *waitProgress
	if !output.json() {
		progress = newWaitProgress(stderr)
	}
	exec, err := waitForExecution(ctx, c, outage, exec, timeout, progress.show)
	progress.clear()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		if output.json() {
			writeJSON(stdout, envelope{Command: command, Item: exec})
		}
		return fail(&registry.Error{Code: codeStillRunning, Message: fmt.Sprintf(
			"execution %s is still running after %v; check it later with `kitaru executions wait %s` or: %s", exec.ExecID, timeout, exec.ExecID, checkCommand(c, conn, exec.ExecID)),
			Details: map[string]any{"exec_id": exec.ExecID}})
	}
	if err != nil {
		return fail(err)
	}
	if output.json() {
		if err := writeJSON(stdout, envelope{Command: command, Item: exec}); err != nil {
			return err
		}
		if exec.Status != registry.StatusCompleted {
			return reportedError{fmt.Errorf("execution %s %s", exec.ExecID, exec.Status)}
		}
		return nil
	}
	return printOutcome(stdout, stderr, exec)
}

func startedLine(e registry.Execution) string {
	line := fmt.Sprintf("Started execution %s of %s version %d", e.ExecID, e.Flow, e.Version)
	if sel := e.Selector; sel.Tag != "" || sel.Version != 0 {
		line += " (" + sel.String() + ")"
	}
	return line + ": " + string(e.Status)
}

// waitForExecution follows the execution until it ends or timeout passes;
// then it returns the last execution seen and context.DeadlineExceeded. An
// execution that failed or was cancelled ended: it is returned without error.
// When outage sees the server stop answering, it returns an unavailable
// error saying how to check the execution later.
func waitForExecution(ctx context.Context, c *client.Client, outage *serverOutage, exec registry.Execution, timeout time.Duration, seen func(registry.Execution)) (registry.Execution, error) {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer outage.watch(stop)()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	got, err := c.Executions().Follow(ctx, exec.ExecID, seen)
	if errors.Is(context.Cause(ctx), errServerStoppedAnswering) {
		return exec, registry.Errorf(registry.CodeUnavailable,
			"the server at %s stopped answering; the execution %s may still be running: kitaru executions get %s", c.BaseURL(), exec.ExecID, exec.ExecID).
			WithDetails("exec_id", exec.ExecID)
	}
	var failed *client.ExecutionError
	switch {
	case errors.As(err, &failed), errors.Is(err, client.ErrCancelled):
		return got, nil
	case err != nil && got.ExecID == "":
		return exec, err
	}
	return got, err
}

// printOutcome prints an ended execution: the result on stdout, or why it
// did not complete on stderr (returned as a reported error).
func printOutcome(stdout, stderr io.Writer, e registry.Execution) error {
	switch e.Status {
	case registry.StatusCompleted:
		if e.ResultRef != "" && len(e.Result) == 0 {
			fmt.Fprintf(stdout, "Execution %s completed; its result is over %d KiB and stored as %s\n", e.ExecID, registry.MaxInlineResultBytes>>10, e.ResultRef)
			return nil
		}
		return writeJSON(stdout, e.Result)
	case registry.StatusFailed:
		msg := fmt.Sprintf("execution %s failed", e.ExecID)
		if e.Error != nil {
			msg += fmt.Sprintf(": %s: %s", e.Error.Type, e.Error.Message)
		}
		fmt.Fprintf(stderr, "error: %s\n", msg)
		if e.Error != nil {
			printTraceback(stderr, e.ExecID, e.Error)
		}
		return reportedError{errors.New(msg)}
	default:
		msg := fmt.Sprintf("execution %s was %s", e.ExecID, e.Status)
		fmt.Fprintf(stderr, "error: %s\n", msg)
		return reportedError{errors.New(msg)}
	}
}

// checkCommand is a command that shows an execution. It names the
// credential by its variable, or gets a token with kitaru auth token, and
// never prints its value.
func checkCommand(c *client.Client, conn connection, execID string) string {
	cmd := "curl -s " + c.BaseURL() + "/v1/executions/" + execID
	if conn.sources.AuthToken == client.SourceEnv {
		cmd += ` -H "Authorization: Bearer $` + client.EnvAuthToken + `"`
	} else {
		cmd += ` -H "Authorization: Bearer $(kitaru auth token)"`
	}
	switch conn.sources.Project {
	case client.SourceEnv:
		cmd += ` -H "X-Kitaru-Project: $` + client.EnvProject + `"`
	case client.SourceFile:
		cmd += ` -H "X-Kitaru-Project: ` + conn.Project + `"`
	}
	return cmd
}

// inputsObject decodes --input for the client, keeping numbers exact; nil
// when there is none.
func inputsObject(raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "inputs are not a JSON object: %v", err)
	}
	return m, nil
}

// outageLimit is how many requests in a row may go unanswered (no HTTP
// answer at all) before a wait gives up on the server.
const outageLimit = 3

// errServerStoppedAnswering ends a wait whose server stopped answering.
var errServerStoppedAnswering = errors.New("the server stopped answering")

// serverOutage is an http.RoundTripper that counts requests in a row that
// got no answer. The client retries them and keeps reading through a brief
// outage, so without it a wait on a server that went away lasts until its
// timeout in silence.
type serverOutage struct {
	next http.RoundTripper

	mu       sync.Mutex
	failures int
	stop     context.CancelCauseFunc // the watched wait, if any
}

func newServerOutage() *serverOutage { return &serverOutage{next: http.DefaultTransport} }

// clientOption sends a client's requests through o.
func (o *serverOutage) clientOption() client.Option {
	return client.WithHTTPClient(&http.Client{Transport: o})
}

// watch makes outageLimit unanswered requests in a row from now on call
// stop with errServerStoppedAnswering, until the returned func is called.
func (o *serverOutage) watch(stop context.CancelCauseFunc) (unwatch func()) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures, o.stop = 0, stop
	return func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.stop = nil
	}
}

// RoundTrip sends r and counts whether it got an answer.
func (o *serverOutage) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.next.RoundTrip(r)
	if r.Context().Err() != nil {
		return resp, err // ended by the caller, not by the server
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.failures++
	} else {
		o.failures = 0
	}
	if o.failures >= outageLimit && o.stop != nil {
		o.stop(errServerStoppedAnswering)
	}
	return resp, err
}
