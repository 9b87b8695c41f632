package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/dynamotest"
	"github.com/kitaru/deployments/pkg/registry"
)

// adminFixture is a fresh registry table in an in-process minidyn, and the
// flags that point kitaru admin at it.
type adminFixture struct {
	db       *dynamodb.Client
	endpoint string
	table    string
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	tbl := dynamotest.New(t)
	// The environment must not point the commands anywhere else.
	t.Setenv("KITARU_TABLE", "")
	t.Setenv("DYNAMODB_ENDPOINT", "")
	return &adminFixture{db: tbl.DB, endpoint: tbl.Endpoint, table: tbl.Name}
}

// run runs kitaru admin keys with args against the fixture's table.
func (f *adminFixture) run(args ...string) (exit int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	full := append([]string{"admin", "keys"}, args...)
	full = append(full, "--table", f.table, "--dynamodb-endpoint", f.endpoint)
	exit = cli.Run(context.Background(), full, &out, &errOut)
	return exit, out.String(), errOut.String()
}

func (f *adminFixture) mustRun(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	exit, stdout, stderr := f.run(args...)
	if exit != cli.ExitOK {
		t.Fatalf("kitaru admin keys %s: exit %d; stderr %s", strings.Join(args, " "), exit, stderr)
	}
	return stdout, stderr
}

func (f *adminFixture) authenticator() *auth.Authenticator {
	return &auth.Authenticator{Keys: dynamo.New(f.db, f.table), Tokens: &auth.Signer{Secret: []byte("admin-test-secret-of-32-bytes!!!")}}
}

// listRow returns the fields of the keys list row of key id: id, projects,
// role, created, last used, revoked, then the description's words.
func listRow(t *testing.T, list, id string) []string {
	t.Helper()
	for line := range strings.Lines(list) {
		if fields := strings.Fields(line); len(fields) >= 6 && fields[0] == id {
			return fields
		}
	}
	t.Fatalf("list %q has no row for %s", list, id)
	return nil
}

func TestAdminKeysLifecycle(t *testing.T) {
	f := newAdminFixture(t)
	ctx := context.Background()
	stdout, stderr := f.mustRun(t, "create", "--project", "research", "--project", "support", "--role", "producer", "--description", "CI deploys")
	plain := strings.TrimSpace(stdout)
	t.Run("create prints the key alone on stdout and warns it is shown once", func(t *testing.T) {
		if !strings.HasPrefix(plain, auth.KeyPrefix) || strings.Contains(plain, "\n") {
			t.Fatalf("stdout %q is not one key", stdout)
		}
		if !strings.Contains(stderr, "cannot be shown again") || !strings.Contains(stderr, "research, support") {
			t.Fatalf("stderr %q lacks the warning or the projects", stderr)
		}
	})
	id := strings.SplitN(strings.TrimPrefix(plain, auth.KeyPrefix), "_", 2)[0]
	secret := strings.TrimPrefix(plain, auth.KeyPrefix+id+"_")

	t.Run("list shows the key without its secret", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "list")
		for _, want := range []string{"KEY ID", "LAST USED", id, "research,support", "producer", "never", "CI deploys"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("list %q lacks %q", stdout, want)
			}
		}
		if strings.Contains(stdout, secret) || strings.Contains(stdout, auth.KeyPrefix) {
			t.Fatalf("list shows the key: %q", stdout)
		}
	})
	t.Run("the printed key authenticates in each of its projects", func(t *testing.T) {
		for _, project := range []string{"research", "support"} {
			p, err := f.authenticator().Authenticate(ctx, "Bearer "+plain, project)
			if err != nil {
				t.Fatalf("project %s: %v", project, err)
			}
			if p.Project != project || p.Role != registry.RoleProducer || p.ID != id {
				t.Fatalf("principal %+v", p)
			}
		}
	})
	t.Run("list shows that the key was used", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "list")
		row := listRow(t, stdout, id)
		if _, err := time.Parse(time.RFC3339, row[4]); err != nil {
			t.Fatalf("LAST USED is %q in %q", row[4], stdout)
		}
		if row[5] != "-" {
			t.Fatalf("REVOKED is %q before revoking", row[5])
		}
	})
	t.Run("revoke says issued tokens stay valid until they expire", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "revoke", id)
		for _, want := range []string{"Revoked API key " + id, "until they expire", "at most 1 h", "15 min by default"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("revoke %q lacks %q", stdout, want)
			}
		}
	})
	t.Run("a revoked key no longer authenticates", func(t *testing.T) {
		_, err := f.authenticator().Authenticate(ctx, "Bearer "+plain, "research")
		if registry.CodeOf(err) != registry.CodeUnauthenticated {
			t.Fatalf("got %v, want unauthenticated", err)
		}
	})
	t.Run("list shows when the key was revoked", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "list")
		row := listRow(t, stdout, id)
		if _, err := time.Parse(time.RFC3339, row[5]); err != nil {
			t.Fatalf("REVOKED is %q in %q", row[5], stdout)
		}
	})
	t.Run("revoking again says it was already revoked", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "revoke", id)
		if !strings.Contains(stdout, "already revoked") {
			t.Fatalf("revoke %q", stdout)
		}
	})
	t.Run("revoking an unknown key fails and says how to list keys", func(t *testing.T) {
		exit, _, stderr := f.run("revoke", "nosuchkey")
		if exit != cli.ExitError || !strings.Contains(stderr, "not found") || !strings.Contains(stderr, "kitaru admin keys list") {
			t.Fatalf("exit %d stderr %q", exit, stderr)
		}
	})
}

func TestAdminKeysJSONOutput(t *testing.T) {
	f := newAdminFixture(t)
	t.Run("list of no keys is an empty list", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "list", "-o", "json")
		var got map[string]any
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		if got["command"] != "admin keys list" || got["count"] != 0.0 || fmt.Sprint(got["items"]) != "[]" {
			t.Fatalf("got %s", stdout)
		}
	})

	stdout, stderr := f.mustRun(t, "create", "--project", "research", "--role", "consumer", "-o", "json")
	var created struct {
		Command string         `json:"command"`
		Item    map[string]any `json:"item"`
	}
	if err := json.Unmarshal([]byte(stdout), &created); err != nil {
		t.Fatalf("create -o json: %v: %s", err, stdout)
	}
	t.Run("create returns the key with its plaintext once", func(t *testing.T) {
		if created.Command != "admin keys create" || stderr != "" {
			t.Fatalf("command %q, stderr %q", created.Command, stderr)
		}
		for _, field := range []string{"key_id", "projects", "role", "created_at", "key"} {
			if _, ok := created.Item[field]; !ok {
				t.Errorf("item %v lacks %s", created.Item, field)
			}
		}
		if created.Item["role"] != "consumer" || fmt.Sprint(created.Item["projects"]) != "[research]" {
			t.Errorf("item %v", created.Item)
		}
		if _, ok := created.Item["hash"]; ok {
			t.Errorf("item %v shows the hash", created.Item)
		}
		if _, err := f.authenticator().Authenticate(context.Background(), "Bearer "+created.Item["key"].(string), ""); err != nil {
			t.Fatalf("the key does not authenticate: %v", err)
		}
	})
	t.Run("list items carry no key or hash", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "list", "-o", "json")
		var got struct {
			Command string           `json:"command"`
			Count   int              `json:"count"`
			Items   []map[string]any `json:"items"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		if got.Command != "admin keys list" || got.Count != 1 || len(got.Items) != 1 || got.Items[0]["key_id"] != created.Item["key_id"] {
			t.Fatalf("got %s", stdout)
		}
		for _, field := range []string{"key", "hash", "Hash"} {
			if _, ok := got.Items[0][field]; ok {
				t.Errorf("item shows %s: %s", field, stdout)
			}
		}
		if strings.Contains(stdout, created.Item["key"].(string)) {
			t.Fatalf("list shows the key: %s", stdout)
		}
	})
	t.Run("revoke returns the revoked key", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "revoke", created.Item["key_id"].(string), "-o", "json")
		var got struct {
			Command string         `json:"command"`
			Item    map[string]any `json:"item"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatal(err)
		}
		if got.Command != "admin keys revoke" || got.Item["revoked_at"] == nil || got.Item["key_id"] != created.Item["key_id"] {
			t.Fatalf("got %s", stdout)
		}
	})
	t.Run("a failure is a JSON error on stderr", func(t *testing.T) {
		exit, stdout, stderr := f.run("revoke", "nosuchkey", "-o", "json")
		var got struct {
			Command string `json:"command"`
			Error   struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(stderr), &got); err != nil {
			t.Fatalf("stderr %q: %v", stderr, err)
		}
		if exit != cli.ExitError || stdout != "" || got.Command != "admin keys revoke" || got.Error.Code != "not_found" {
			t.Fatalf("exit %d stdout %q stderr %q", exit, stdout, stderr)
		}
	})
}

func TestAdminKeysRefusals(t *testing.T) {
	f := newAdminFixture(t)
	tests := []struct {
		name string
		args []string
		exit int
		msg  string
	}{
		{"an unknown role is a usage error", []string{"create", "--project", "research", "--role", "admin"}, cli.ExitUsage, "use producer or consumer"},
		{"a missing role is a usage error", []string{"create", "--project", "research"}, cli.ExitUsage, "use producer or consumer"},
		{"no project is a usage error", []string{"create", "--role", "producer"}, cli.ExitUsage, "pass --project"},
		{"an invalid project name is a usage error", []string{"create", "--project", "Research Team", "--role", "producer"}, cli.ExitUsage, "is invalid"},
		{"revoke without a key id is a usage error", []string{"revoke"}, cli.ExitUsage, "accepts 1 arg"},
		{"list takes no arguments", []string{"list", "extra"}, cli.ExitUsage, "unknown command"},
		{"an unknown output format is a usage error", []string{"list", "-o", "yaml"}, cli.ExitUsage, "use text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exit, stdout, stderr := f.run(tt.args...)
			if exit != tt.exit || !strings.Contains(stderr, tt.msg) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q)", exit, tt.exit, stderr, tt.msg)
			}
			if stdout != "" {
				t.Fatalf("stdout %q", stdout)
			}
		})
	}
	t.Run("nothing refused was created", func(t *testing.T) {
		stdout, _ := f.mustRun(t, "list")
		if !strings.Contains(stdout, "No API keys") {
			t.Fatalf("list %q", stdout)
		}
	})
}

func TestAdminKeysNeedATable(t *testing.T) {
	f := newAdminFixture(t)
	t.Run("without --table or KITARU_TABLE it says to set it", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		exit := cli.Run(context.Background(), []string{"admin", "keys", "list", "--dynamodb-endpoint", f.endpoint}, &stdout, &stderr)
		if exit != cli.ExitUsage || !strings.Contains(stderr.String(), "set KITARU_TABLE") {
			t.Fatalf("exit %d stderr %q", exit, stderr.String())
		}
	})
	t.Run("KITARU_TABLE and DYNAMODB_ENDPOINT are the defaults", func(t *testing.T) {
		t.Setenv("KITARU_TABLE", f.table)
		t.Setenv("DYNAMODB_ENDPOINT", f.endpoint)
		var stdout, stderr bytes.Buffer
		if exit := cli.Run(context.Background(), []string{"admin", "keys", "list"}, &stdout, &stderr); exit != cli.ExitOK {
			t.Fatalf("exit %d stderr %q", exit, stderr.String())
		}
	})
	t.Run("a table that does not exist is a failure", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		exit := cli.Run(context.Background(), []string{"admin", "keys", "list", "--table", "no-such-table", "--dynamodb-endpoint", f.endpoint}, &stdout, &stderr)
		if exit != cli.ExitError || !strings.HasPrefix(stderr.String(), "error: ") {
			t.Fatalf("exit %d stderr %q", exit, stderr.String())
		}
	})
}
