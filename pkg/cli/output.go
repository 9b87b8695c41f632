package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// Output shared by every command: errors, the -o json envelopes, and the
// flags several commands take.

// reportedError is an error already shown to the user; Run only turns it
// into the exit code.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// report shows err on w, as "error: <message>" or, with -o json, as
// {"command", "error": {code, message, details}}, and returns it marked
// reported.
func report(w io.Writer, command string, output outputFlag, err error) error {
	detail := api.ErrorDetail{Code: registry.CodeOf(err), Message: err.Error()}
	var re *registry.Error
	if errors.As(err, &re) {
		detail.Message, detail.Details = re.Message, re.Details
	}
	var ce *client.Error
	if errors.As(err, &ce) && ce.StatusCode == 0 && ce.Code == registry.CodeUnavailable {
		detail.Message += "; check the server URL (`kitaru info` shows it), or start a local server with `kitaru dev`"
	}
	switch {
	case errors.As(err, &ce) && ce.Code == registry.CodeUnauthenticated && ce.Server == client.ServerKitaruDev:
		conn, _ := loadConnection() // the refused connection; login passes its own URL (runLogin)
		detail.Message = devRefusal(detail.Message, conn.ServerURL, conn.sources.AuthToken == client.SourceEnv)
	case command != "login": // login was given the URL and key; the server's advice is the step
		detail.Message = withNextStep(detail.Message, detail.Details, func() connection {
			conn, _ := loadConnection()
			return conn
		})
	}
	if output.json() {
		writeJSON(w, envelope{Command: command, Error: &detail})
	} else {
		fmt.Fprintf(w, "error: %s\n", detail.Message)
	}
	return reportedError{err}
}

// devRefusal rewrites a refusal by kitaru dev at serverURL: the server's
// advice (ask the project's admin for a key) does not work there, the
// key kitaru dev printed at start does. fromEnv says the credential came
// from KITARU_AUTH_TOKEN, which a login would not override.
func devRefusal(message, serverURL string, fromEnv bool) string {
	if serverURL == "" {
		serverURL = "URL"
	}
	next := fmt.Sprintf("log in with that key: kitaru login %s --api-key <the printed key> --project %s", serverURL, devstack.Project)
	if fromEnv {
		next = fmt.Sprintf("set %s to that key (it overrides any saved login)", client.EnvAuthToken)
	}
	return fmt.Sprintf("kitaru dev refuses this credential (%s): it accepts only the API key it printed when it started, "+
		"new on each start unless given with $%s or --api-key-file, and tokens made from that key while it runs; %s",
		diagnosis(message), devAPIKeyEnv, next)
}

// diagnosis is the part of a server message that says what is wrong,
// without the advice after the first "; ".
func diagnosis(message string) string {
	d, _, _ := strings.Cut(message, "; ")
	return d
}

// envelope is the -o json output: the item on stdout, or the error on stderr.
type envelope struct {
	Command string           `json:"command"`
	Item    any              `json:"item,omitempty"`
	Error   *api.ErrorDetail `json:"error,omitempty"`
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// outputFlag is -o: text (the default) or json.
type outputFlag string

func (o *outputFlag) String() string {
	if *o == "" {
		return "text"
	}
	return string(*o)
}

func (o *outputFlag) Set(s string) error {
	if s != "text" && s != "json" {
		return errors.New("use text or json")
	}
	*o = outputFlag(s)
	return nil
}

func (o *outputFlag) Type() string { return "format" }

func (o outputFlag) json() bool { return o == "json" }

// inputsFlag is --input: a JSON object given inline or as @file. Anything
// else is a usage error, found before any request.
type inputsFlag struct{ raw json.RawMessage }

func (f *inputsFlag) String() string { return string(f.raw) }

func (f *inputsFlag) Set(s string) error {
	data, err := jsonArgument(s, "inputs")
	if err != nil {
		return err
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New(`inputs must be a JSON object like {"topic": "..."}`)
	}
	raw, err := registry.NormalizeInputs(data)
	if err != nil {
		var re *registry.Error
		if errors.As(err, &re) {
			return errors.New(re.Message)
		}
		return err
	}
	f.raw = raw
	return nil
}

func (f *inputsFlag) Type() string { return "JSON|@file" }

// jsonArgument is a JSON|@file flag's text: s itself, or the file @s names
// (what names the flag's value in the error).
func jsonArgument(s, what string) ([]byte, error) {
	name, ok := strings.CutPrefix(s, "@")
	if !ok {
		return []byte(s), nil
	}
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return data, nil
}

// showItem asks the server through get and shows the answer: with -o json
// as the item of the envelope, else through print. Errors are reported on
// stderr.
func showItem[T any](cmd *cobra.Command, command string, output outputFlag, get func(context.Context, *client.Client) (T, error), print func(io.Writer, T) error) error {
	item, err := withClient(cmd.Context(), get)
	if err != nil {
		return report(cmd.ErrOrStderr(), command, output, err)
	}
	if output.json() {
		return writeJSON(cmd.OutOrStdout(), envelope{Command: command, Item: item})
	}
	return print(cmd.OutOrStdout(), item)
}

// showList is showItem for lists: with -o json they are the items of a list
// envelope.
func showList[T any](cmd *cobra.Command, command string, output outputFlag, list func(context.Context, *client.Client) ([]T, error), print func(io.Writer, []T) error) error {
	items, err := withClient(cmd.Context(), list)
	if err != nil {
		return report(cmd.ErrOrStderr(), command, output, err)
	}
	if output.json() {
		return writeJSON(cmd.OutOrStdout(), newListEnvelope(command, items))
	}
	return print(cmd.OutOrStdout(), items)
}

// withClient builds the client of the active connection and calls do with it.
func withClient[T any](ctx context.Context, do func(context.Context, *client.Client) (T, error)) (T, error) {
	c, _, err := serverClient()
	if err != nil {
		var zero T
		return zero, err
	}
	return do(ctx, c)
}

// listEnvelope is the -o json output of a list: every item, and how many.
type listEnvelope[T any] struct {
	Command string `json:"command"`
	Count   int    `json:"count"`
	Items   []T    `json:"items"`
}

func newListEnvelope[T any](command string, items []T) listEnvelope[T] {
	if items == nil {
		items = []T{} // [] rather than null
	}
	return listEnvelope[T]{Command: command, Count: len(items), Items: items}
}

// listAll pages through a list until it ends or holds limit items (0: no
// limit), asking for pages no larger than needed.
func listAll[T any](ctx context.Context, limit int, page func(context.Context, client.ListOptions) (client.Page[T], error)) ([]T, error) {
	var items []T
	opts := client.ListOptions{}
	for {
		if limit > 0 {
			opts.Limit = min(limit-len(items), registry.MaxPageSize)
		}
		p, err := page(ctx, opts)
		if err != nil {
			return nil, err
		}
		items = append(items, p.Items...)
		if p.NextToken == "" || (limit > 0 && len(items) >= limit) {
			break
		}
		opts.NextToken = p.NextToken
	}
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	return items, nil
}

// limitFlag adds --limit to a list command; checkLimit refuses a negative one.
func limitFlag(cmd *cobra.Command, limit *int) {
	cmd.Flags().IntVar(limit, "limit", 0, "list at most this many (default: all, fetched page by page)")
}

func checkLimit(limit int) error {
	if limit < 0 {
		return fmt.Errorf("--limit %d is invalid: pass a positive number, or leave it out for all", limit)
	}
	return nil
}

// outputFlagOn adds -o to cmd.
func outputFlagOn(cmd *cobra.Command, output *outputFlag) {
	cmd.Flags().VarP(output, "output", "o", "output format: text or json")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

// isTerminal reports whether w is a terminal, where progress is shown.
func isTerminal(w io.Writer) bool {
	// A character device is not enough: /dev/null is one too.
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
}

// waitProgress shows on a terminal how long an execution has been waited
// for, on one line it rewrites. A nil *waitProgress shows nothing, which is
// what a writer that is not a terminal gets.
type waitProgress struct {
	w       io.Writer
	started time.Time
	shown   bool
}

// newWaitProgress returns the progress line on w, or nil when w is not a
// terminal.
func newWaitProgress(w io.Writer) *waitProgress {
	if !isTerminal(w) {
		return nil
	}
	return &waitProgress{w: w, started: time.Now()}
}

// show rewrites the line with the execution's status.
func (p *waitProgress) show(e registry.Execution) {
	if p == nil {
		return
	}
	fmt.Fprintf(p.w, "\r\033[KWaiting for execution %s of %s version %d: %s, %s", e.ExecID, e.Flow, e.Version, e.Status,
		time.Since(p.started).Round(time.Second))
	p.shown = true
}

// clear erases the line, so that what follows starts on a clean one.
func (p *waitProgress) clear() {
	if p == nil || !p.shown {
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
}
