package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

func newFlowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flow",
		Short: "List flows, route their tags and manage their deployments",
		Long: `flow shows the deployed flows and their routes, moves, removes and rolls back
tags, shows a tag's history, lists, shows and deletes deployment versions, and
shows what changed between two of them (diff).
Exclusive tags are marked * in text output.
` + serverHelp,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newFlowListCommand(), newFlowShowCommand(), newFlowTagCommand(), newFlowUntagCommand(),
		newFlowRollbackCommand(), newFlowHistoryCommand(), newFlowDeploymentsCommand(), newFlowDeleteCommand(),
		newFlowStatusCommand(), newFlowPruneCommand())
	cmd.AddCommand(newFlowDiffCommand())
	return cmd
}

func newFlowListCommand() *cobra.Command {
	var (
		output outputFlag
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the project's flows",
		Long: `list shows every flow of the project with its deployment count, latest and
default versions and tag names, exclusive ones marked *.
` + serverHelp,
		Args: cobra.MatchAll(cobra.NoArgs, func(*cobra.Command, []string) error { return checkLimit(limit) }),
		RunE: func(cmd *cobra.Command, _ []string) error {
			const command = "flow list"
			return showList(cmd, command, output, func(ctx context.Context, c *client.Client) ([]registry.FlowSummary, error) {
				flows, err := listAll(ctx, limit, c.Flows)
				if err != nil {
					return nil, err
				}
				return flows, nil
			}, printFlows)
		},
	}
	limitFlag(cmd, &limit)
	outputFlagOn(cmd, &output)
	return cmd
}

func printFlows(w io.Writer, flows []registry.FlowSummary) error {
	if len(flows) == 0 {
		fmt.Fprintln(w, "No flows yet. Deploy one with: kitaru deploy path/to/file.py:flow_name")
		return nil
	}
	t := newTable(w, "FLOW", "DEPLOYMENTS", "LATEST", "DEFAULT", "TAGS", "UPDATED")
	anyMarked := false
	for _, f := range flows {
		tags := make(map[string]bool, len(f.Tags))
		for name := range f.Tags {
			tags[name] = slices.Contains(f.ExclusiveTags, name)
		}
		names, marked := markedTags(tags)
		anyMarked = anyMarked || marked
		t.row(f.Flow, strconv.Itoa(f.DeploymentCount), strconv.Itoa(f.LatestVersion), formatVersion(f.DefaultVersion),
			orDash(names), formatTime(f.UpdatedAt))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if anyMarked {
		fmt.Fprintln(w, exclusiveNote)
	}
	return nil
}

func newFlowShowCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "show FLOW",
		Short: "Show a flow: its versions, default and every tag",
		Long: `show summarises a flow: how many versions exist, the latest one, the version
default routes to, and every tag with the versions it points at.
` + serverHelp,
		Example:           "  kitaru flow show research_agent",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow show"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (registry.FlowSummary, error) {
				return c.Flow(ctx, args[0])
			}, printFlow)
		},
	}
	outputFlagOn(cmd, &output)
	return cmd
}

func printFlow(w io.Writer, f registry.FlowSummary) error {
	fmt.Fprintf(w, "Flow:         %s\n", f.Flow)
	fmt.Fprintf(w, "Deployments:  %d (latest version %d)\n", f.DeploymentCount, f.LatestVersion)
	if f.DefaultVersion != nil {
		fmt.Fprintf(w, "Default:      version %d\n", *f.DefaultVersion)
	} else {
		fmt.Fprintf(w, "Default:      none; route it with kitaru flow tag %s default --version N\n", f.Flow)
	}
	fmt.Fprintf(w, "Created:      %s\n", formatTime(f.CreatedAt))
	fmt.Fprintf(w, "Updated:      %s\n", formatTime(f.UpdatedAt))
	if len(f.Tags) == 0 {
		fmt.Fprintln(w, "Tags:         (none)")
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "TAG", "VERSIONS")
	for _, name := range slices.Sorted(maps.Keys(f.Tags)) {
		versions := formatVersions(f.Tags[name])
		if split := f.Splits[name]; split != nil {
			versions = "split " + split.String()
		}
		t.row(tagName(name, slices.Contains(f.ExclusiveTags, name)), versions)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if len(f.ExclusiveTags) > 0 {
		fmt.Fprintln(w, exclusiveNote)
	}
	return nil
}

func newFlowTagCommand() *cobra.Command {
	var (
		output     outputFlag
		version    int
		split      string
		exclusive  bool
		ifRevision int64
	)
	cmd := &cobra.Command{
		Use:   "tag FLOW TAG (--version N [--exclusive] | --split V=W,...)",
		Short: "Point a tag at a version",
		Long: `tag adds TAG to a version. An exclusive tag moves there in one step, away from
the version it was on; a shared tag is added alongside its other versions.
default is always exclusive. A tag name is exclusive or shared within a flow,
never both. --if-revision changes the tag only if its revision is still that
number (kitaru flow tag and kitaru flow tag get print it), so a concurrent
change is not overwritten.

--split points an exclusive tag at 2 to 8 versions by weight, as one change:
--split 3=90,4=10 sends 90% of invocations to version 3 and 10% to version 4
(weights 1 to 99, summing to 100). A sticky key (kitaru invoke --sticky-key)
always picks the same version while the split is unchanged. A later
--version move, or a deploy routed to the tag, collapses the split;
kitaru flow rollback restores it. Versions in a split cannot be deleted.

kitaru flow tag get FLOW TAG shows a tag and its revision. To tag a flow
that is itself named get, put the flags first and -- before the names:
kitaru flow tag --version N -- get TAG.
` + serverHelp,
		Example: `  kitaru flow tag research_agent stable --version 2 --exclusive
  kitaru flow tag research_agent benchmark --version 2
  kitaru flow tag research_agent live --split 3=90,4=10`,
		Args: cobra.MatchAll(cobra.ExactArgs(2), func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("split") {
				return checkVersion(cmd, version)
			}
			if cmd.Flags().Changed("version") {
				return errors.New("pass either --version or --split, not both")
			}
			if cmd.Flags().Changed("exclusive") && !exclusive {
				return errors.New("--split makes the tag exclusive: drop --exclusive=false (a shared tag points at whole versions: use --version N)")
			}
			if _, err := registry.ParseSplit(split); err != nil {
				return fmt.Errorf("--split: %s", messageOf(err))
			}
			return nil
		}),
		ValidArgsFunction: completeFlowArgs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow tag"
			opts := client.TagOptions{Exclusive: exclusive}
			if cmd.Flags().Changed("if-revision") {
				opts.IfRevision = &ifRevision
			}
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (registry.Tag, error) {
				if cmd.Flags().Changed("split") {
					weights, err := registry.ParseSplit(split) // valid: Args checked it
					if err != nil {
						return registry.Tag{}, err
					}
					return c.Deployments().Split(ctx, args[0], args[1], weights, opts)
				}
				return c.Deployments().Tag(ctx, args[0], args[1], version, opts)
			}, func(w io.Writer, tag registry.Tag) error {
				printTag(w, "Tagged", tag)
				return nil
			})
		},
	}
	cmd.AddCommand(newFlowTagGetCommand()) // see taginfo.go
	f := cmd.Flags()
	versionFlag(cmd, &version, "the version to tag (required unless --split)")
	f.StringVar(&split, "split", "", "split the exclusive tag by weight, VERSION=WEIGHT,... summing to 100 (like 3=90,4=10)")
	f.BoolVar(&exclusive, "exclusive", false, "make the tag exclusive: move it here from any other version")
	f.Int64Var(&ifRevision, "if-revision", 0, "change the tag only if its revision is still this")
	outputFlagOn(cmd, &output)
	return cmd
}

// printTag says where a tag points after a change.
func printTag(w io.Writer, verb string, t registry.Tag) {
	where := routePhrase(t)
	kind := "shared"
	if t.Exclusive {
		kind = "exclusive"
	}
	fmt.Fprintf(w, "%s: %s of %s now points at %s (%s, revision %d)\n", verb, tagName(t.Name, t.Exclusive), t.Flow, where, kind, t.Revision)
}

// untagItem is the -o json item of kitaru flow untag.
type untagItem struct {
	Flow    string `json:"flow"`
	Tag     string `json:"tag"`
	Version int    `json:"version"`
}

func newFlowUntagCommand() *cobra.Command {
	var (
		output  outputFlag
		version int
	)
	cmd := &cobra.Command{
		Use:   "untag FLOW TAG --version N",
		Short: "Remove a tag from a version",
		Long: `untag removes TAG from a version. default cannot be removed, only moved
(kitaru flow tag FLOW default --version N).
` + serverHelp,
		Example: "  kitaru flow untag research_agent benchmark --version 2",
		Args: cobra.MatchAll(cobra.ExactArgs(2), func(cmd *cobra.Command, _ []string) error {
			return checkVersion(cmd, version)
		}),
		ValidArgsFunction: completeFlowArgs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow untag"
			item := untagItem{Flow: args[0], Tag: args[1], Version: version}
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (untagItem, error) {
				return item, c.Deployments().Untag(ctx, item.Flow, item.Tag, item.Version)
			}, func(w io.Writer, item untagItem) error {
				fmt.Fprintf(w, "Removed tag %s from %s version %d\n", item.Tag, item.Flow, item.Version)
				return nil
			})
		},
	}
	versionFlag(cmd, &version, "the version to remove the tag from (required)")
	outputFlagOn(cmd, &output)
	return cmd
}

func newFlowRollbackCommand() *cobra.Command {
	var output outputFlag
	cmd := &cobra.Command{
		Use:   "rollback FLOW TAG",
		Short: "Move an exclusive tag back to its previous version",
		Long: `rollback moves an exclusive tag back to the version it pointed at before its
last change, and records that in its history; rolling back twice returns to
where you were. A shared tag, or one with nothing to roll back to, is refused.
` + serverHelp,
		Example:           "  kitaru flow rollback research_agent stable",
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: completeFlowArgs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow rollback"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (registry.Tag, error) {
				return c.Deployments().Rollback(ctx, args[0], args[1])
			}, func(w io.Writer, tag registry.Tag) error {
				printTag(w, "Rolled back", tag)
				return nil
			})
		},
	}
	outputFlagOn(cmd, &output)
	return cmd
}

func newFlowHistoryCommand() *cobra.Command {
	var (
		output outputFlag
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "history FLOW TAG",
		Short: "Show every change of a tag's route, newest first",
		Long: `history lists every change of a tag, newest first: when, who, what
(deploy, move, add, remove, rollback, delete) and from which version to which.
` + serverHelp,
		Example: "  kitaru flow history research_agent stable",
		Args: cobra.MatchAll(cobra.ExactArgs(2), func(*cobra.Command, []string) error {
			return checkLimit(limit)
		}),
		ValidArgsFunction: completeFlowArgs(true),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow history"
			return showList(cmd, command, output, func(ctx context.Context, c *client.Client) ([]registry.RouteChange, error) {
				return listAll(ctx, limit, func(ctx context.Context, opts client.ListOptions) (client.Page[registry.RouteChange], error) {
					return c.Deployments().History(ctx, args[0], args[1], opts)
				})
			}, func(w io.Writer, changes []registry.RouteChange) error {
				return printHistory(w, args[0], args[1], changes)
			})
		},
	}
	limitFlag(cmd, &limit)
	outputFlagOn(cmd, &output)
	return cmd
}

func printHistory(w io.Writer, flow, tag string, changes []registry.RouteChange) error {
	if len(changes) == 0 {
		fmt.Fprintf(w, "Tag %s of %s has no history.\n", tag, flow)
		return nil
	}
	t := newTable(w, "WHEN", "WHO", "ACTION", "FROM → TO")
	for _, ch := range changes {
		t.row(formatTime(ch.At), orDash(ch.By), string(ch.Action), formatTarget(ch.From, ch.FromSplit)+" → "+formatTarget(ch.To, ch.ToSplit))
	}
	return t.flush()
}

// formatTarget is one side of a route change: a version, a split as
// "split 3=90,4=10", or "-".
func formatTarget(v *int, split registry.Split) string {
	if split != nil {
		return "split " + split.String()
	}
	return formatVersion(v)
}

// routePhrase says where a tag routes: its versions, with weights when split.
func routePhrase(t registry.Tag) string {
	if t.Split != nil {
		return t.Split.Phrase()
	}
	return registry.VersionsPhrase(t.Versions)
}

// newFlowDeploymentsCommand is the parent of the deployment version
// commands.
func newFlowDeploymentsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deployments",
		Short: "List, show and delete a flow's deployment versions, or print a curl command invoking one",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newDeploymentsListCommand(), newDeploymentsGetCommand(), newDeploymentsDeleteCommand())
	// curl: see curl.go
	cmd.AddCommand(newCurlCommand())
	cmd.AddCommand(newDeploymentsLogsCommand()) // see logs.go
	return cmd
}

func newDeploymentsListCommand() *cobra.Command {
	var (
		output outputFlag
		limit  int
	)
	cmd := &cobra.Command{
		Use:   "list FLOW",
		Short: "List a flow's deployment versions, newest first",
		Long: `list shows every version of a flow, newest first, with its tags, stack and
when and by whom it was deployed.
` + serverHelp,
		Example: "  kitaru flow deployments list research_agent",
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(*cobra.Command, []string) error {
			return checkLimit(limit)
		}),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow deployments list"
			return showList(cmd, command, output, func(ctx context.Context, c *client.Client) ([]registry.Deployment, error) {
				got, err := listAll(ctx, limit, func(ctx context.Context, opts client.ListOptions) (client.Page[client.Deployment], error) {
					return c.Deployments().List(ctx, args[0], opts)
				})
				ds := make([]registry.Deployment, len(got))
				for i, d := range got {
					ds[i] = d.Deployment
				}
				return ds, err
			}, func(w io.Writer, ds []registry.Deployment) error {
				return printDeployments(w, args[0], ds)
			})
		},
	}
	limitFlag(cmd, &limit)
	outputFlagOn(cmd, &output)
	return cmd
}

func printDeployments(w io.Writer, flow string, ds []registry.Deployment) error {
	if len(ds) == 0 {
		fmt.Fprintf(w, "Flow %s has no deployments.\n", flow)
		return nil
	}
	t := newTable(w, "VERSION", "TAGS", "STACK", "CREATED", "BY", "DESCRIPTION")
	anyMarked := false
	for _, d := range ds {
		tags, marked := markedTags(d.Tags)
		anyMarked = anyMarked || marked
		t.row(strconv.Itoa(d.Version), orDash(tags), d.Stack, formatTime(d.CreatedAt), orDash(d.CreatedBy), d.Description)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if anyMarked {
		fmt.Fprintln(w, exclusiveNote)
	}
	return nil
}

func newDeploymentsGetCommand() *cobra.Command {
	var (
		output  outputFlag
		version int
		tag     string
	)
	cmd := &cobra.Command{
		Use:   "get FLOW [--version N | --tag T]",
		Short: "Show one deployment version",
		Long: `get shows one version of a flow — its tags, entrypoint, source, stack and
representative inputs — picked by --version or by the tag routing to it;
with neither, the version default routes to. A shared tag on several
versions is refused: pass --version.
` + serverHelp,
		Example: `  kitaru flow deployments get research_agent --version 2
  kitaru flow deployments get research_agent --tag stable`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, _ []string) error {
			return checkSelectorFlags(cmd, version)
		}),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow deployments get"
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (registry.Deployment, error) {
				var (
					d   client.Deployment
					err error
				)
				if version != 0 {
					d, err = c.Deployments().Get(ctx, args[0], version)
				} else {
					d, err = c.Deployments().Resolve(ctx, args[0], registry.Selector{Tag: tag})
				}
				return d.Deployment, err
			}, func(w io.Writer, d registry.Deployment) error {
				printDeploymentDetails(w, d)
				return nil
			})
		},
	}
	versionFlag(cmd, &version, "the version to show")
	cmd.Flags().StringVar(&tag, "tag", "", "show the version this tag routes to (default: default)")
	_ = cmd.RegisterFlagCompletionFunc("tag", func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return completeTags(cmd, args[0]), cobra.ShellCompDirectiveNoFileComp
	})
	outputFlagOn(cmd, &output)
	return cmd
}

func printDeploymentDetails(w io.Writer, d registry.Deployment) {
	fmt.Fprintf(w, "Flow:         %s\n", d.Flow)
	fmt.Fprintf(w, "Version:      %d (snapshot %s)\n", d.Version, d.Snapshot)
	fmt.Fprintf(w, "Tags:         %s\n", formatTags(d.Tags))
	fmt.Fprintf(w, "Entrypoint:   %s\n", d.Entrypoint)
	if d.Source != nil {
		fmt.Fprintf(w, "Source:       %s\n", sourceLine(*d.Source))
	}
	fmt.Fprintf(w, "Stack:        %s\n", orDash(d.Stack))
	fmt.Fprintf(w, "Inputs:       %s\n", orDash(string(d.Inputs)))
	for i, line := range schemaLines(d.InputSchema) {
		label := "Input schema:"
		if i > 0 {
			label = ""
		}
		fmt.Fprintf(w, "%-14s%s\n", label, line)
	}
	if d.Description != "" {
		fmt.Fprintf(w, "Description:  %s\n", d.Description)
	}
	if len(d.Secrets) > 0 {
		fmt.Fprintf(w, "Secrets:      %s\n", strings.Join(d.Secrets, ", "))
	}
	fmt.Fprintf(w, "Created:      %s by %s\n", formatTime(d.CreatedAt), orDash(d.CreatedBy))
}

// schemaLines describes an input schema a line per parameter (name, JSON
// type, required or its default), then whether other keys are accepted; a
// schema of another shape is shown as its JSON.
func schemaLines(raw json.RawMessage) []string {
	if len(raw) == 0 {
		return []string{"- (not set: any inputs object is accepted)"}
	}
	var s struct {
		Type                 string                     `json:"type"`
		Properties           map[string]json.RawMessage `json:"properties"`
		Required             []string                   `json:"required"`
		AdditionalProperties *bool                      `json:"additionalProperties"`
	}
	var order []string
	if json.Unmarshal(raw, &s) != nil || s.Type != "object" || jsonKeys(raw, "properties", &order) != nil {
		return []string{string(raw)}
	}
	if len(order) == 0 {
		return []string{"no parameters"}
	}
	width := 0
	for _, name := range order {
		width = max(width, len(name))
	}
	var lines []string
	for _, name := range order {
		var p struct {
			Default json.RawMessage `json:"default"`
		}
		_ = json.Unmarshal(s.Properties[name], &p)
		what := "optional"
		switch {
		case slices.Contains(s.Required, name):
			what = "required"
		case p.Default != nil:
			what = "default " + string(p.Default)
		}
		lines = append(lines, fmt.Sprintf("%-*s  %-20s  %s", width, name, schemaType(s.Properties[name]), what))
	}
	if s.AdditionalProperties == nil || *s.AdditionalProperties {
		return append(lines, "(other inputs are accepted too)")
	}
	return append(lines, "(other inputs are refused)")
}

// schemaType names a parameter's JSON type: "string", "integer | null",
// "one of "fast", "slow"", "array of string", or "any".
func schemaType(raw json.RawMessage) string {
	var p struct {
		Type  json.RawMessage   `json:"type"`
		Enum  []json.RawMessage `json:"enum"`
		Items json.RawMessage   `json:"items"`
		AnyOf []json.RawMessage `json:"anyOf"`
	}
	_ = json.Unmarshal(raw, &p)
	var kinds []string
	if json.Unmarshal(p.Type, &kinds) != nil {
		var one string
		if json.Unmarshal(p.Type, &one) == nil {
			kinds = []string{one}
		}
	}
	switch {
	case len(p.Enum) > 0:
		values := make([]string, len(p.Enum))
		for i, v := range p.Enum {
			values[i] = string(v)
		}
		return "one of " + strings.Join(values, ", ")
	case len(p.AnyOf) > 0:
		alts := make([]string, len(p.AnyOf))
		for i, a := range p.AnyOf {
			alts[i] = schemaType(a)
		}
		return strings.Join(alts, " | ")
	case len(kinds) == 1 && kinds[0] == "array" && len(p.Items) > 0:
		return "array of " + schemaType(p.Items)
	case len(kinds) > 0:
		return strings.Join(kinds, " | ")
	}
	return "any"
}

// jsonKeys appends the keys of the object at field of raw, in document order.
func jsonKeys(raw json.RawMessage, field string, keys *[]string) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	obj, ok := fields[field]
	if !ok {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("%s is not an object", field)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		*keys = append(*keys, t.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// deletedItem is the -o json item of kitaru flow deployments delete.
type deletedItem struct {
	Flow    string `json:"flow"`
	Version int    `json:"version"`
}

func newDeploymentsDeleteCommand() *cobra.Command {
	var (
		output  outputFlag
		version int
	)
	cmd := &cobra.Command{
		Use:   "delete FLOW --version N",
		Short: "Delete a deployment version",
		Long: `delete removes a version; shared tags it holds leave with it. A version that
still holds an exclusive tag (such as default) cannot be deleted: move the tag
first with kitaru flow tag. Version numbers are never reused.
` + serverHelp,
		Example: "  kitaru flow deployments delete research_agent --version 1",
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, _ []string) error {
			return checkVersion(cmd, version)
		}),
		ValidArgsFunction: completeFlowArgs(false),
		RunE: func(cmd *cobra.Command, args []string) error {
			const command = "flow deployments delete"
			item := deletedItem{Flow: args[0], Version: version}
			return showItem(cmd, command, output, func(ctx context.Context, c *client.Client) (deletedItem, error) {
				return item, c.Deployments().Delete(ctx, item.Flow, item.Version)
			}, func(w io.Writer, item deletedItem) error {
				fmt.Fprintf(w, "Deleted %s version %d\n", item.Flow, item.Version)
				return nil
			})
		},
	}
	versionFlag(cmd, &version, "the version to delete (required)")
	outputFlagOn(cmd, &output)
	return cmd
}

// versionFlag adds --version to cmd.
func versionFlag(cmd *cobra.Command, version *int, usage string) {
	cmd.Flags().IntVar(version, "version", 0, usage)
	_ = cmd.RegisterFlagCompletionFunc("version", cobra.NoFileCompletions)
}

// checkVersion refuses a missing or invalid --version. It runs as part of
// Args, so that Run reports it as a usage error before any request.
func checkVersion(cmd *cobra.Command, version int) error {
	if !cmd.Flags().Changed("version") {
		return errors.New("pass the version with --version N")
	}
	if version < 1 {
		return fmt.Errorf("--version %d is invalid: versions start at 1", version)
	}
	return nil
}

// checkSelectorFlags refuses --tag together with --version, and a --version
// below 1; neither flag is required. It runs as part of Args, so that Run
// reports them as usage errors before any request.
func checkSelectorFlags(cmd *cobra.Command, version int) error {
	f := cmd.Flags()
	if f.Changed("tag") && f.Changed("version") {
		return errors.New("pass either --tag or --version, not both")
	}
	if f.Changed("version") {
		return checkVersion(cmd, version)
	}
	return nil
}

// completionTimeout bounds the server calls of shell completion, which must
// stay snappy.
const completionTimeout = 2 * time.Second

// completeFlowArgs completes a FLOW argument with the project's flow names
// and, when withTag is set, a following TAG argument with that flow's tags.
// Completion never shows an error: without a connection or a server it
// offers nothing.
func completeFlowArgs(withTag bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch {
		case len(args) == 0:
			return completeFlows(cmd), cobra.ShellCompDirectiveNoFileComp
		case len(args) == 1 && withTag:
			return completeTags(cmd, args[0]), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeFlows is the first page of the project's flow names.
func completeFlows(cmd *cobra.Command) []cobra.Completion {
	page, err := completionCall(cmd, func(ctx context.Context, c *client.Client) (client.Page[registry.FlowSummary], error) {
		return c.Flows(ctx, client.ListOptions{Limit: registry.MaxPageSize})
	})
	if err != nil {
		return nil
	}
	names := make([]cobra.Completion, len(page.Items))
	for i, f := range page.Items {
		names[i] = f.Flow
	}
	return names
}

// completeTags is the tag names of flow.
func completeTags(cmd *cobra.Command, flow string) []cobra.Completion {
	s, err := completionCall(cmd, func(ctx context.Context, c *client.Client) (registry.FlowSummary, error) {
		return c.Flow(ctx, flow)
	})
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.Tags))
}

// completionCall is withClient under completionTimeout.
func completionCall[T any](cmd *cobra.Command, do func(context.Context, *client.Client) (T, error)) (T, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	return withClient(ctx, do)
}
