package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

type curlOptions struct {
	tag         string
	version     int
	inputs      inputsFlag
	followRoute bool
	stickyKey   string
	output      outputFlag
}

func newCurlCommand() *cobra.Command {
	var opts curlOptions
	cmd := &cobra.Command{
		Use:   "curl FLOW",
		Short: "Print a curl command that invokes a deployed flow",
		Long: `curl resolves --tag or --version (with neither, the default tag) on the
Kitaru server, then prints a bash command that starts a new execution of the
version it resolved to with curl (POST /v1/flows/FLOW/versions/N/invocations).
The command stays pinned to that version: regenerate it after the tag moves.
With --follow-route it posts to the tag's route instead, so that it starts
whichever version the tag points at when it runs.

The command holds no credential: it runs "kitaru auth token" for a short-lived
bearer token, which needs an API key in the connection where it runs. Every
value in it is single-quoted, so it can be pasted or piped into bash as is.
With -o json it prints the command with its URL, body and resolved version.
` + serverHelp,
		Example: `  kitaru flow deployments curl research_agent --tag stable --input '{"topic": "deployment routing"}'
  kitaru flow deployments curl research_agent --version 2 | bash
  kitaru flow deployments curl research_agent --tag canary --follow-route -o json`,
		Args: cobra.MatchAll(cobra.ExactArgs(1), func(cmd *cobra.Command, args []string) error {
			// Checked here, before any request, so that Run reports usage errors.
			f := cmd.Flags()
			if err := registry.ValidateFlowName(args[0]); err != nil {
				return errors.New(messageOf(err))
			}
			if err := checkSelectorFlags(cmd, opts.version); err != nil {
				return err
			}
			if f.Changed("tag") {
				if err := registry.ValidateTagName(opts.tag); err != nil {
					return errors.New(messageOf(err))
				}
			}
			if opts.followRoute && f.Changed("version") {
				return errors.New("--follow-route follows a tag: pass --tag, or drop --follow-route to pin --version")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := runCurl(cmd.Context(), args[0], opts)
			if err != nil {
				return report(cmd.ErrOrStderr(), "flow deployments curl", opts.output, err)
			}
			if opts.output.json() {
				return writeJSON(cmd.OutOrStdout(), envelope{Command: "flow deployments curl", Item: c})
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), c.Command)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.tag, "tag", "", "routing tag to resolve (default: default)")
	f.IntVar(&opts.version, "version", 0, "exact version to invoke")
	f.Var(&opts.inputs, "input", "inputs the command sends: a JSON object, or @file to read one")
	f.StringVar(&opts.stickyKey, "sticky-key", "", "for a split tag: pick the version this key always gets (pinned), or send the key (with --follow-route)")
	f.BoolVar(&opts.followRoute, "follow-route", false, "post to the tag's route, following later tag moves, instead of pinning the version it resolves to now")
	f.VarP(&opts.output, "output", "o", "output format: text (the command) or json")
	return cmd
}

func runCurl(ctx context.Context, flow string, opts curlOptions) (client.CurlCommand, error) {
	c, _, err := serverClient()
	if err != nil {
		return client.CurlCommand{}, err
	}
	return c.Deployments().Curl(ctx, flow, client.CurlOptions{
		Selector:    registry.Selector{Tag: opts.tag, Version: opts.version, StickyKey: opts.stickyKey},
		Inputs:      opts.inputs.raw,
		FollowRoute: opts.followRoute,
	})
}
