package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/registry"
)

// adminOptions are the flags every admin command shares: they reach the
// registry table directly with the caller's AWS credentials, not through the
// Kitaru API, because API keys are what the API itself is guarded by.
type adminOptions struct {
	table    string
	endpoint string
	output   outputFlag
}

// errNoTable is the usage error of an admin command run without a table.
var errNoTable = errors.New("no DynamoDB table: set KITARU_TABLE (or pass --table) to the registry table of your Kitaru stack")

const adminHelp = `
Admin commands use the registry table directly with your AWS credentials
(the default AWS configuration: AWS_PROFILE, AWS_REGION, …).
Table: --table, default KITARU_TABLE. Endpoint: --dynamodb-endpoint, default
DYNAMODB_ENDPOINT (empty is AWS itself).`

func newAdminCommand() *cobra.Command {
	opts := &adminOptions{}
	admin := &cobra.Command{
		Use:   "admin",
		Short: "Operator commands: API keys",
		Long:  "admin holds the operator's commands, which work on the registry table itself.\n" + adminHelp,
		Args:  cobra.NoArgs,
	}
	f := admin.PersistentFlags()
	f.StringVar(&opts.table, "table", os.Getenv("KITARU_TABLE"), "DynamoDB table of the registry (default KITARU_TABLE)")
	f.StringVar(&opts.endpoint, "dynamodb-endpoint", os.Getenv("DYNAMODB_ENDPOINT"), "DynamoDB endpoint URL (default DYNAMODB_ENDPOINT; empty is AWS)")
	f.VarP(&opts.output, "output", "o", "output format: text or json")

	keys := &cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys",
		Long: `keys manages the API keys clients exchange for short-lived tokens. A key
belongs to one or more projects and has a role: producer (deploy, tag,
invoke) or consumer (invoke and read). Only a hash of each key is stored.
` + adminHelp,
		Args: cobra.NoArgs,
	}
	keys.AddCommand(newKeysCreateCommand(opts), newKeysListCommand(opts), newKeysRevokeCommand(opts))
	admin.AddCommand(keys)
	return admin
}

// checkTable is part of every admin command's argument check, so a missing
// table is a usage error found before any request.
func (o *adminOptions) checkTable() error {
	if strings.TrimSpace(o.table) == "" {
		return errNoTable
	}
	return nil
}

// openStore connects to the registry table.
func (o *adminOptions) openStore(ctx context.Context) (*dynamo.Store, error) {
	db, err := defaultconfig.NewClient(ctx, o.endpoint)
	if err != nil {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "connect to DynamoDB: %v", err)
	}
	return dynamo.New(db, o.table), nil
}

type keysCreateOptions struct {
	projects    []string
	role        string
	description string
}

// createdKey is the -o json item of keys create: the only time the
// plaintext key is shown.
type createdKey struct {
	KeyID       string        `json:"key_id"`
	Projects    []string      `json:"projects"`
	Role        registry.Role `json:"role"`
	Description string        `json:"description,omitempty"`
	CreatedAt   time.Time     `json:"created_at"`
	Key         string        `json:"key"`
}

func newKeysCreateCommand(admin *adminOptions) *cobra.Command {
	var opts keysCreateOptions
	cmd := &cobra.Command{
		Use:   "create --project P [--project Q …] --role producer|consumer",
		Short: "Create an API key and print it once",
		Long: `create makes a new API key for the given projects and role and prints it
once on stdout (the key alone, so KEY=$(kitaru admin keys create …) works);
it cannot be shown again, because only its hash is stored.
` + adminHelp,
		Example: `  kitaru admin keys create --project research --role producer --description "CI deploys"
  kitaru admin keys create --project research --project support --role consumer -o json`,
		Args: cobra.MatchAll(cobra.NoArgs, func(*cobra.Command, []string) error {
			if err := admin.checkTable(); err != nil {
				return err
			}
			if len(opts.projects) == 0 {
				return errors.New("a key needs at least one project: pass --project")
			}
			for _, p := range opts.projects {
				var invalid *registry.Error
				if err := registry.ValidateProject(p); errors.As(err, &invalid) {
					return fmt.Errorf("--project: %s", invalid.Message)
				}
			}
			if !registry.ValidRole(registry.Role(opts.role)) {
				return fmt.Errorf("--role %q is unknown: use producer or consumer", opts.role)
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeysCreate(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), admin, opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.projects, "project", nil, "project the key may act in (repeat for several)")
	f.StringVar(&opts.role, "role", "", "producer (deploy, tag, invoke) or consumer (invoke and read)")
	f.StringVar(&opts.description, "description", "", "what the key is for, shown by keys list")
	return cmd
}

func runKeysCreate(ctx context.Context, stdout, stderr io.Writer, admin *adminOptions, opts keysCreateOptions) error {
	const command = "admin keys create"
	fail := func(err error) error { return report(stderr, command, admin.output, err) }
	store, err := admin.openStore(ctx)
	if err != nil {
		return fail(err)
	}
	k, plain, err := auth.NewKey(opts.projects, registry.Role(opts.role), opts.description, time.Now())
	if err != nil {
		return fail(err)
	}
	if err := store.CreateKey(ctx, k); err != nil {
		return fail(err)
	}
	if admin.output.json() {
		return writeJSON(stdout, envelope{Command: command, Item: createdKey{
			KeyID: k.ID, Projects: k.Projects, Role: k.Role, Description: k.Description, CreatedAt: k.CreatedAt, Key: plain,
		}})
	}
	// The key alone on stdout; what it is and the warning on stderr.
	fmt.Fprintf(stderr, "Created API key %s (role %s; projects %s).\n", k.ID, k.Role, strings.Join(k.Projects, ", "))
	fmt.Fprintln(stdout, plain)
	fmt.Fprintln(stderr, "Store it now: it cannot be shown again (only its hash is kept). If it is lost, create another and revoke this one.")
	return nil
}

// keyList is the -o json envelope of keys list.
type keyList struct {
	Command string     `json:"command"`
	Count   int        `json:"count"`
	Items   []auth.Key `json:"items"`
}

func newKeysListCommand(admin *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List API keys, oldest first",
		Long: `list shows every API key, oldest first: id, projects, role, when it was
created, last used (to the minute) and revoked. It never shows a key or its hash.
` + adminHelp,
		Args: cobra.MatchAll(cobra.NoArgs, func(*cobra.Command, []string) error { return admin.checkTable() }),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runKeysList(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), admin)
		},
	}
}

func runKeysList(ctx context.Context, stdout, stderr io.Writer, admin *adminOptions) error {
	const command = "admin keys list"
	fail := func(err error) error { return report(stderr, command, admin.output, err) }
	store, err := admin.openStore(ctx)
	if err != nil {
		return fail(err)
	}
	keys, err := store.ListKeys(ctx)
	if err != nil {
		return fail(err)
	}
	for i := range keys {
		keys[i].Hash = nil // never shown; auth.Key does not encode it either
	}
	if admin.output.json() {
		return writeJSON(stdout, keyList{Command: command, Count: len(keys), Items: keys})
	}
	if len(keys) == 0 {
		fmt.Fprintln(stdout, "No API keys. Create one with: kitaru admin keys create --project P --role producer")
		return nil
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "KEY ID\tPROJECTS\tROLE\tCREATED\tLAST USED\tREVOKED\tDESCRIPTION")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, strings.Join(k.Projects, ","), k.Role,
			listTime(&k.CreatedAt, "-"), listTime(k.LastUsedAt, "never"), listTime(k.RevokedAt, "-"), k.Description)
	}
	return w.Flush()
}

func listTime(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

func newKeysRevokeCommand(admin *adminOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke KEY_ID",
		Short: "Revoke an API key",
		Long: fmt.Sprintf(`revoke stops an API key from authenticating or getting new tokens.
Tokens already issued for it stay valid until they expire: at most %s,
%s by default. Revoking a revoked key changes nothing.
`, fmtDuration(auth.MaxTokenTTL), fmtDuration(auth.DefaultTokenTTL)) + adminHelp,
		Example: "  kitaru admin keys revoke 3n4bq5xk2m7dfh6a",
		Args:    cobra.MatchAll(cobra.ExactArgs(1), func(*cobra.Command, []string) error { return admin.checkTable() }),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeysRevoke(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), admin, args[0])
		},
	}
}

func runKeysRevoke(ctx context.Context, stdout, stderr io.Writer, admin *adminOptions, id string) error {
	const command = "admin keys revoke"
	fail := func(err error) error { return report(stderr, command, admin.output, err) }
	store, err := admin.openStore(ctx)
	if err != nil {
		return fail(err)
	}
	at := time.Now().UTC()
	k, err := store.RevokeKey(ctx, id, at)
	if err != nil {
		return fail(err)
	}
	k.Hash = nil
	if admin.output.json() {
		return writeJSON(stdout, envelope{Command: command, Item: k})
	}
	if k.RevokedAt != nil && !k.RevokedAt.Equal(at) {
		fmt.Fprintf(stdout, "API key %s was already revoked at %s.\n", k.ID, listTime(k.RevokedAt, ""))
	} else {
		fmt.Fprintf(stdout, "Revoked API key %s.\n", k.ID)
	}
	fmt.Fprintf(stdout, "Tokens already issued for it stay valid until they expire (at most %s; %s by default).\n",
		fmtDuration(auth.MaxTokenTTL), fmtDuration(auth.DefaultTokenTTL))
	return nil
}

// fmtDuration prints whole hours and minutes the way people write them.
func fmtDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d h", d/time.Hour)
	}
	return fmt.Sprintf("%d min", d/time.Minute)
}
