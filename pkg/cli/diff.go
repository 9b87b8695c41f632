package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/client"
)

func newFlowDiffCommand() *cobra.Command {
	var (
		output outputFlag
		path   string
	)
	cmd := &cobra.Command{
		Use:   "diff FLOW A B",
		Short: "Show what changed between two versions or tags of a flow",
		Long: `diff compares two deployments of a flow: entrypoint, stack, description, the
source's git commit and dirty flag, the input schema parameter by parameter,
the deploy-time inputs key by key, the declared secrets, and the source itself
as unified diffs of the bundles' text files (binary files by digest).

A and B are versions (3) or tags (stable), resolved now; tag:NAME names a tag
called like a number. The same version twice is an empty diff.

The server bounds the answer: diff text is cut at 64 KiB per file and 256 KiB
in all, and text files over 512 KiB are compared by digest; what was cut is
said at the end. --path narrows the diff to a file or directory, and a single
file then gets the whole 256 KiB.
` + serverHelp,
		Example: `  kitaru flow diff research_agent 2 stable
  kitaru flow diff research_agent stable canary --path flows/research.py
  kitaru flow diff research_agent 1 3 -o json`,
		Args:              cobra.ExactArgs(3),
		ValidArgsFunction: completeDiffArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow diff"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (client.DeploymentDiff, error) {
				return c.Deployments().Diff(ctx, args[0], args[1], args[2], client.DiffOptions{Path: path})
			}, func(w io.Writer, d client.DeploymentDiff) error { return printDiff(w, d, args) })
		},
	}
	cmd.Flags().StringVar(&path, "path", "", "compare only this file or directory of the project (relative to its root)")
	outputFlagOn(cmd, &output)
	return cmd
}

// completeDiffArgs completes the flow, then its tags for A and B.
func completeDiffArgs(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 1 || len(args) == 2 {
		return completeTags(cmd, args[0]), cobra.ShellCompDirectiveNoFileComp
	}
	return completeFlowArgs(false)(cmd, args, toComplete)
}

// printDiff writes a diff for people: a header naming what each side
// resolved to, the changed fields, parameters, inputs and secrets, a file
// summary, then the unified diffs, and what the server cut.
func printDiff(w io.Writer, d client.DeploymentDiff, args []string) error {
	fmt.Fprintf(w, "Diff of %s: %s -> %s\n", d.Flow, sideName(d.From), sideName(d.To))
	if d.Identical {
		fmt.Fprintln(w, "No differences.")
		return nil
	}
	if len(d.Fields) > 0 {
		fmt.Fprintln(w, "\nFields:")
		for _, f := range d.Fields {
			fmt.Fprintf(w, "  %s: %s -> %s\n", f.Field, fieldValue(f.Before), fieldValue(f.After))
		}
	}
	printSchemaDiff(w, d.InputSchema)
	if len(d.Inputs) > 0 {
		fmt.Fprintln(w, "\nInputs:")
		for _, in := range d.Inputs {
			switch {
			case in.ValuesOmitted:
				fmt.Fprintf(w, "  %s %s: (values over %d bytes; see kitaru flow deployments get)\n", changeMark(in.Change), in.Key, api.MaxDiffValueBytes)
			case in.Change == api.ChangeAdded:
				fmt.Fprintf(w, "  + %s: %s\n", in.Key, in.After)
			case in.Change == api.ChangeRemoved:
				fmt.Fprintf(w, "  - %s: %s\n", in.Key, in.Before)
			default:
				fmt.Fprintf(w, "  ~ %s: %s -> %s\n", in.Key, in.Before, in.After)
			}
		}
	}
	if len(d.Secrets.Added)+len(d.Secrets.Removed) > 0 {
		fmt.Fprintln(w, "\nSecrets:")
		for _, s := range d.Secrets.Added {
			fmt.Fprintf(w, "  + %s\n", s)
		}
		for _, s := range d.Secrets.Removed {
			fmt.Fprintf(w, "  - %s\n", s)
		}
	}
	printSourceDiff(w, d.Source, args)
	return nil
}

func sideName(s api.DiffSide) string {
	if s.Split != nil {
		return fmt.Sprintf("%s (split %s: version %d, picked by weight)", s.Tag, s.Split, s.Version)
	}
	if s.Tag != "" {
		return fmt.Sprintf("%s (version %d)", s.Tag, s.Version)
	}
	return fmt.Sprintf("version %d", s.Version)
}

func fieldValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "(none)"
	case string:
		if v == "" {
			return "(none)"
		}
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func changeMark(change string) string {
	switch change {
	case api.ChangeAdded:
		return "+"
	case api.ChangeRemoved:
		return "-"
	}
	return "~"
}

func printSchemaDiff(w io.Writer, s api.SchemaDiff) {
	if len(s.Parameters) == 0 && !s.OtherChanged && s.FromDeclared == s.ToDeclared {
		return
	}
	fmt.Fprintln(w, "\nInput schema:")
	switch {
	case s.FromDeclared && !s.ToDeclared:
		fmt.Fprintln(w, "  (removed: the new version takes any JSON object)")
	case !s.FromDeclared && s.ToDeclared:
		fmt.Fprintln(w, "  (added: the old version took any JSON object)")
	}
	for _, p := range s.Parameters {
		switch p.Change {
		case api.ChangeAdded:
			fmt.Fprintf(w, "  + %s (%s)\n", p.Name, describeParameter(p.To))
		case api.ChangeRemoved:
			fmt.Fprintf(w, "  - %s (%s)\n", p.Name, describeParameter(p.From))
		default:
			var parts []string
			for _, a := range p.Aspects {
				switch a {
				case "type":
					parts = append(parts, fmt.Sprintf("type %s -> %s", orAny(p.From.Type), orAny(p.To.Type)))
				case "required":
					parts = append(parts, fmt.Sprintf("required %s -> %s", yesNo(p.From.Required), yesNo(p.To.Required)))
				case "default":
					parts = append(parts, fmt.Sprintf("default %s -> %s", orNone(p.From.DefaultValue), orNone(p.To.DefaultValue)))
				default:
					parts = append(parts, "other keywords changed")
				}
			}
			fmt.Fprintf(w, "  ~ %s: %s\n", p.Name, strings.Join(parts, "; "))
		}
	}
	if s.OtherChanged {
		fmt.Fprintln(w, "  (keywords outside the parameters changed, e.g. additionalProperties)")
	}
}

func describeParameter(p *api.Parameter) string {
	parts := []string{orAny(p.Type)}
	if p.Required {
		parts = append(parts, "required")
	}
	if len(p.DefaultValue) > 0 {
		parts = append(parts, "default "+string(p.DefaultValue))
	}
	return strings.Join(parts, ", ")
}

func orAny(t string) string {
	if t == "" {
		return "any"
	}
	return t
}

func orNone(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "(none)"
	}
	return string(raw)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printSourceDiff(w io.Writer, s api.SourceDiff, args []string) {
	switch {
	case s.SameBundle:
		fmt.Fprintln(w, "\nSource: the same bundle")
		return
	case !s.Compared:
		fmt.Fprintf(w, "\nSource: not compared: %s\n", s.Unavailable)
		return
	}
	where := ""
	if s.Path != "" {
		where = " under " + s.Path
	}
	fmt.Fprintf(w, "\nSource%s: %d added, %d removed, %d modified, %d unchanged\n", where, s.Summary.Added, s.Summary.Removed, s.Summary.Modified, s.Summary.Unchanged)
	for _, f := range s.Files {
		if f.Diff == "" {
			fmt.Fprintf(w, "  %s %s%s\n", changeMark(f.Change), f.Path, fileNote(f))
		}
	}
	for _, f := range s.Files {
		if f.Diff == "" {
			continue
		}
		fmt.Fprintln(w)
		io.WriteString(w, f.Diff)
		if f.DiffTruncated {
			fmt.Fprintf(w, "[... %s: %s]\n", f.Path, f.DiffOmitted)
		}
	}
	if s.Truncated {
		fmt.Fprintf(w, "\nTruncated: %s\n", s.Truncation)
		if len(args) == 3 {
			fmt.Fprintf(w, "  kitaru flow diff %s %s %s --path FILE\n", args[0], args[1], args[2])
		}
	}
}

// fileNote describes a changed file listed without a diff: a binary or
// large file by digest, a link by target.
func fileNote(f api.FileChange) string {
	version := func(v *api.FileVersion) string {
		switch {
		case v == nil:
			return "(none)"
		case v.Target != "":
			return v.Kind + " to " + v.Target
		}
		return fmt.Sprintf("%s %s (%s)", v.Kind, shortDigest(v.Digest), bundle.FormatSize(v.Size))
	}
	note := ": " + version(f.From) + " -> " + version(f.To)
	switch f.Change {
	case api.ChangeAdded:
		note = ": " + version(f.To)
	case api.ChangeRemoved:
		note = ": " + version(f.From)
	}
	if f.DiffOmitted != "" {
		note += "; " + f.DiffOmitted
	}
	return note
}

func shortDigest(d string) string {
	if len(d) > len(bundle.DigestPrefix)+12 {
		return d[:len(bundle.DigestPrefix)+12]
	}
	return d
}
