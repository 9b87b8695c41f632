package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/registry"
)

// TokenCommand is the command a generated curl command runs for its bearer
// token. Commands name it instead of holding a credential, so they can be
// pasted into scripts, tickets and CI logs.
const TokenCommand = "kitaru auth token"

// CurlOptions says which deployment a generated curl command invokes and
// with what.
type CurlOptions struct {
	// Selector picks the deployment: a tag or a version; neither is the
	// default tag.
	Selector registry.Selector
	// Inputs override the deployment's inputs key by key: a JSON object, or
	// empty to send none.
	Inputs json.RawMessage
	// FollowRoute generates a command for the tag's route, which starts
	// whichever version the tag points at when the command runs, instead of
	// one pinned to the version it resolves to now. It needs a tag.
	FollowRoute bool
}

// CurlCommand is a generated bash command that starts an execution of a
// deployed flow with curl. It never holds a credential: the bearer token
// comes from running TokenCommand.
type CurlCommand struct {
	// Command is the whole bash text: comment lines, then the curl call.
	Command string `json:"command"`
	// URL is the route it posts to.
	URL string `json:"url"`
	// Body is the JSON request body; empty when there is none.
	Body string `json:"body,omitempty"`
	// TokenCommand is the command run for the bearer token.
	TokenCommand string `json:"token_command"`
	// ResolvedVersion is the version the selector named at generation time.
	ResolvedVersion int `json:"resolved_version"`
	// Tag is the tag that was resolved; empty when a version was given.
	Tag string `json:"tag,omitempty"`
	// Pinned is true when the command posts to the version's own route, so a
	// later tag move does not change what it starts.
	Pinned bool `json:"pinned"`
	// Split is the tag's split when it is split (version → weight); a
	// pinned command then runs the one version picked at generation time.
	Split registry.Split `json:"split,omitempty"`
}

// Curl resolves opts.Selector on flow, then generates the curl command that
// invokes the version it resolved to (POST
// /v1/flows/{flow}/versions/{N}/invocations), or with opts.FollowRoute the
// tag's route (POST /v1/flows/{flow}/invocations with the tag in the body).
// Every value in the command is single-quoted for bash, so a URL, project
// or input cannot inject shell syntax. Errors: invalid_argument (a bad flow
// name, tag, version or inputs, or FollowRoute with a version, all found
// before any request), not_found, conflict (an ambiguous shared tag), and
// the errors of Resolve.
func (d *Deployments) Curl(ctx context.Context, flow string, opts CurlOptions) (CurlCommand, error) {
	if err := registry.ValidateFlowName(flow); err != nil {
		return CurlCommand{}, err
	}
	sel := opts.Selector
	if err := sel.Normalize(); err != nil {
		return CurlCommand{}, err
	}
	if opts.FollowRoute && sel.Version != 0 {
		return CurlCommand{}, registry.Errorf(registry.CodeInvalidArgument,
			"a command that follows the route needs a tag, not version %d: pass a tag, or drop follow-route to pin the version", sel.Version)
	}
	var inputs json.RawMessage
	if len(bytes.TrimSpace(opts.Inputs)) > 0 {
		var err error
		if inputs, err = registry.NormalizeInputs(opts.Inputs); err != nil {
			return CurlCommand{}, err
		}
	}
	res, err := d.resolve(ctx, flow, sel)
	if err != nil {
		return CurlCommand{}, fmt.Errorf("resolve %s of %s for the curl command: %w", sel, flow, err)
	}
	dep := res.Deployment

	out := CurlCommand{TokenCommand: TokenCommand, ResolvedVersion: dep.Version, Tag: sel.Tag, Pinned: !opts.FollowRoute}
	if res.Route != nil {
		out.Split = res.Route.Split
	}
	body := api.InvokeRequest{Inputs: inputs} // no version: the URL pins it, or the tag routes
	var comments []string
	switch {
	case out.Pinned && out.Split != nil:
		out.URL = d.c.BaseURL() + flowPath(flow, "/versions/"+strconv.Itoa(dep.Version)+"/invocations")
		comments = []string{
			fmt.Sprintf("%s: tag %s is split %s (version=weight) at revision %d; version %d was picked %s when this command was generated.",
				flow, sel.Tag, out.Split, res.Route.Revision, dep.Version, pickedBy(sel.StickyKey)),
			fmt.Sprintf("The command stays pinned to version %d: pass --follow-route to let the server pick by weight on every run.", dep.Version),
		}
	case out.Pinned:
		out.URL = d.c.BaseURL() + flowPath(flow, "/versions/"+strconv.Itoa(dep.Version)+"/invocations")
		if sel.Tag != "" {
			comments = []string{
				fmt.Sprintf("%s: tag %s resolved to version %d when this command was generated.", flow, sel.Tag, dep.Version),
				fmt.Sprintf("The command stays pinned to version %d: regenerate it after the tag moves.", dep.Version),
			}
		}
	case out.Split != nil:
		out.URL = d.c.BaseURL() + flowPath(flow, "/invocations")
		body.Tag, body.StickyKey = sel.Tag, sel.StickyKey
		comments = []string{
			fmt.Sprintf("%s: tag %s is split %s (version=weight) now.", flow, sel.Tag, out.Split),
			fmt.Sprintf("The command follows the tag: the server picks a version by weight on every run%s.", stickyNote(sel.StickyKey)),
		}
	default:
		out.URL = d.c.BaseURL() + flowPath(flow, "/invocations")
		body.Tag, body.StickyKey = sel.Tag, sel.StickyKey
		comments = []string{
			fmt.Sprintf("%s: tag %s resolves to version %d now.", flow, sel.Tag, dep.Version),
			fmt.Sprintf("The command follows the tag: it starts whichever version %s points at when it runs.", sel.Tag),
		}
	}
	if body.Tag != "" || len(body.Inputs) > 0 {
		if out.Body, err = encodeBody(body); err != nil {
			return CurlCommand{}, err
		}
	}
	out.Command = curlText(comments, out.URL, d.c.project, out.Body)
	return out, nil
}

// pickedBy says how a split's version was picked for a pinned command.
func pickedBy(stickyKey string) string {
	if stickyKey != "" {
		return "for the sticky key"
	}
	return "at random by weight"
}

// stickyNote says that the body's sticky key keeps the pick stable.
func stickyNote(stickyKey string) string {
	if stickyKey != "" {
		return " (the sticky key in the body keeps it the same version while the split is unchanged)"
	}
	return ""
}

// encodeBody is v as compact JSON, with <, > and & left as they are.
func encodeBody(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("encode the curl body: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// curlText writes the command: comments, then one curl argument a line,
// without a final newline.
// The only text outside single quotes is fixed: the Authorization header
// is double-quoted so that bash runs TokenCommand.
func curlText(comments []string, url, project, body string) string {
	var b strings.Builder
	for _, c := range comments {
		b.WriteString("# " + c + "\n")
	}
	lines := []string{
		"curl -sS --fail-with-body -X POST " + ShellQuote(url),
		`-H "Authorization: Bearer $(` + TokenCommand + `)"`,
	}
	if project != "" {
		lines = append(lines, "-H "+ShellQuote("X-Kitaru-Project: "+project))
	}
	if body != "" {
		lines = append(lines, "-H "+ShellQuote("Content-Type: application/json"), "--data-raw "+ShellQuote(body))
	}
	b.WriteString(strings.Join(lines, " \\\n  "))
	return b.String()
}

// ShellQuote quotes s as one bash word that expands to exactly s. Inside
// single quotes nothing is special; a quote in s closes them, adds a
// backslash-escaped quote and reopens them. s must not contain a NUL byte,
// which no shell word can hold.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
