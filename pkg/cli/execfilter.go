package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/client"
	"github.com/kitaru/deployments/pkg/registry"
)

// executionFilterFlags are the filters of executions list.
type executionFilterFlags struct {
	version int
	tag     string
	status  string
	since   string
	// sinceAt and sinceAgo are since, parsed by check.
	sinceAt  time.Time
	sinceAgo time.Duration
}

func (f *executionFilterFlags) add(cmd *cobra.Command) {
	cmd.Flags().IntVar(&f.version, "version", 0, "only executions that ran this version, however invoked")
	cmd.Flags().StringVar(&f.tag, "tag", "", "only executions invoked through this tag")
	cmd.Flags().StringVar(&f.status, "status", "", "only executions in this state: running, completed, failed or cancelled")
	cmd.Flags().StringVar(&f.since, "since", "", "only executions started within this long (90s, 15m, 1h, 7d) or since this RFC 3339 time")
	_ = cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions(
		[]cobra.Completion{"running", "completed", "failed", "cancelled"}, cobra.ShellCompDirectiveNoFileComp))
}

// flags are the filter flags given, as typed ("--tag stable --since 1h"),
// or "" for none.
func (f *executionFilterFlags) flags() string {
	var given []string
	if f.version != 0 {
		given = append(given, fmt.Sprintf("--version %d", f.version))
	}
	for _, fl := range [][2]string{{"tag", f.tag}, {"status", f.status}, {"since", f.since}} {
		if fl[1] != "" {
			given = append(given, "--"+fl[0]+" "+fl[1])
		}
	}
	return strings.Join(given, " ")
}

// check refuses bad filter flags before any request, as usage errors.
func (f *executionFilterFlags) check(cmd *cobra.Command) error {
	if cmd.Flags().Changed("version") && f.tag != "" {
		return fmt.Errorf("pass --version %d or --tag %s, not both", f.version, f.tag)
	}
	if cmd.Flags().Changed("version") && f.version < 1 {
		return fmt.Errorf("--version %d is invalid: versions start at 1", f.version)
	}
	if f.tag != "" {
		if err := registry.ValidateTagName(f.tag); err != nil {
			return fmt.Errorf("--tag: %v", err)
		}
	}
	if err := (registry.ExecutionFilter{Status: registry.ExecStatus(f.status)}).Validate(); err != nil {
		return fmt.Errorf("--status %q is not one of running, completed, failed, cancelled", f.status)
	}
	var err error
	f.sinceAt, f.sinceAgo, err = parseSinceFlag(f.since)
	return err
}

// parseSinceFlag reads --since: an RFC 3339 time (at) or a duration before
// now (ago); neither when s is empty.
func parseSinceFlag(s string) (at time.Time, ago time.Duration, err error) {
	if s == "" {
		return at, ago, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, 0, nil
	}
	if ago, err = registry.ParseAge("--since", s); err != nil {
		return at, ago, fmt.Errorf("--since %q is neither a duration (90s, 15m, 1h, 7d) nor an RFC 3339 time (2026-12-01T08:00:00Z)", s)
	}
	return at, ago, nil
}

// options are the filters as the SDK's list options for one page.
func (f *executionFilterFlags) options(page client.ListOptions) client.ExecutionListOptions {
	return client.ExecutionListOptions{ListOptions: page, Version: f.version, Tag: f.tag,
		Status: registry.ExecStatus(f.status), Since: f.sinceAt, SinceAgo: f.sinceAgo}
}
