package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

func newFlowPruneCommand() *cobra.Command {
	var (
		output    outputFlag
		keep      int
		olderThan string
		dryRun    bool
		age       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "prune FLOW --keep N [--older-than 30d] [--dry-run]",
		Short: "Delete the versions no tag routes to, and the bundles only they used",
		Long: `prune deletes the versions of a flow that no tag routes to (exclusive, shared or
in a split), except the newest --keep versions, versions created less than
--older-than ago, and versions with a running execution. It prints what it
deleted and why it kept every other version. Then it deletes the source
bundles that only the deleted versions used; a bundle another version of the
project uses stays. Version numbers are never reused. --dry-run prints the
same plan and deletes nothing.
` + serverHelp,
		Example: `  kitaru flow prune research_agent --keep 5 --dry-run
  kitaru flow prune research_agent --keep 5 --older-than 30d -o json`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("keep") || keep < 1 {
				return fmt.Errorf("pass --keep N, at least 1: how many of the newest versions to keep")
			}
			if olderThan == "" {
				return nil
			}
			d, err := registry.ParseAge("--older-than", olderThan)
			if err != nil {
				return fmt.Errorf("--older-than %q is not an age: pass whole days (30d) or a duration (12h, 90m)", olderThan)
			}
			age = d
			return nil
		}),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return showItem(cmd, "flow prune", output, func(ctx context.Context, c *client.Client) (client.Pruning, error) {
				return c.Prune(ctx, args[0], client.PruneOptions{Keep: keep, OlderThan: age, DryRun: dryRun})
			}, printPruning)
		},
	}
	cmd.Flags().IntVar(&keep, "keep", 0, "how many of the newest versions to keep whatever else holds (at least 1)")
	cmd.Flags().StringVar(&olderThan, "older-than", "", "only delete versions created longer ago than this (30d, 12h)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and delete nothing")
	outputFlagOn(cmd, &output)
	return cmd
}

// keptDetail says more about why a prune kept a version.
func keptDetail(k registry.KeptVersion, p client.Pruning) string {
	switch k.Reason {
	case registry.KeptRouted:
		return "tags " + strings.Join(k.Tags, ", ")
	case registry.KeptNewest:
		return fmt.Sprintf("among the newest %d", p.Keep)
	case registry.KeptTooYoung:
		return "created " + k.CreatedAt.Format(time.RFC3339) + ", within " + p.OlderThan
	case registry.KeptRunning:
		return "execution " + k.Running + " is running"
	}
	return ""
}

func printPruning(w io.Writer, p client.Pruning) error {
	verb, bundleVerb := "Deleted", "deleted"
	if p.DryRun {
		verb, bundleVerb = "Would delete (dry run, nothing deleted)", "would be deleted"
	}
	deleted := make([]int, len(p.Deleted))
	for i, d := range p.Deleted {
		deleted[i] = d.Version
	}
	switch {
	case len(deleted) > 0:
		fmt.Fprintf(w, "%s from flow %s: versions %s\n", verb, p.Flow, formatVersions(deleted))
	case p.DryRun:
		fmt.Fprintf(w, "Would delete nothing (dry run) from flow %s: every version is kept (below).\n", p.Flow)
	default:
		fmt.Fprintf(w, "Nothing deleted from flow %s: every version is kept (below).\n", p.Flow)
	}
	for _, d := range p.Deleted {
		if len(d.StartedExecutions) > 0 {
			fmt.Fprintf(w, "Version %d was invoked while it was deleted (%s); its bundle is kept.\n", d.Version, strings.Join(d.StartedExecutions, ", "))
		}
	}
	if len(p.Kept) > 0 {
		fmt.Fprintln(w, "Kept:")
		t := newTable(w, "  VERSION", "REASON", "DETAIL")
		for _, k := range p.Kept {
			t.row(fmt.Sprintf("  %d", k.Version), k.Reason, keptDetail(k, p))
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	for _, b := range p.Bundles {
		switch {
		case b.Deleted:
			fmt.Fprintf(w, "Bundle %s %s: no version uses it.\n", b.Digest, bundleVerb)
		case b.Reason == registry.BundleShared:
			fmt.Fprintf(w, "Bundle %s kept: version %s uses it.\n", b.Digest, b.UsedBy)
		default:
			fmt.Fprintf(w, "Bundle %s kept: in use by a deploy or an execution right now; it is not collected later.\n", b.Digest)
		}
	}
	return nil
}
