package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/sqlstore"
)

var ctx = context.Background()

func deploy(t *testing.T, s *sqlstore.Store, project, flow, tag string) registry.Deployment {
	t.Helper()
	d, err := s.Deploy(ctx, registry.DeployRequest{Project: project, Flow: flow, Entrypoint: "flows/f.py:" + flow, Tag: tag,
		Inputs: json.RawMessage(`{"topic":"x"}`), Stack: "dev", By: "tester"})
	if err != nil {
		t.Fatalf("deploy %s: %v", flow, err)
	}
	return d
}

func TestAFileKeepsEverythingAcrossCloseAndOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := sqlstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	deploy(t, s, "p", "research", "")
	deploy(t, s, "p", "research", "canary")
	if _, err := s.PutTag(ctx, registry.TagRequest{Project: "p", Flow: "research", Tag: "stable", Version: 1, Exclusive: true, By: "tester"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateExecution(ctx, registry.Execution{Project: "p", ExecID: "01EXEC", Flow: "research", Version: 2, Snapshot: "kitaru::research::v2", Status: registry.StatusRunning}); err != nil {
		t.Fatal(err)
	}
	before, err := s.GetFlow(ctx, "p", "research")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = sqlstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	after, err := s.GetFlow(ctx, "p", "research")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(after.Tags, after.LatestVersion, after.DeploymentCount, after.UpdatedAt) != fmt.Sprint(before.Tags, before.LatestVersion, before.DeploymentCount, before.UpdatedAt) {
		t.Errorf("flow after reopening %+v, before %+v", after, before)
	}
	if e, err := s.GetExecution(ctx, "p", "01EXEC"); err != nil || e.Status != registry.StatusRunning {
		t.Errorf("execution after reopening: %+v, %v", e, err)
	}
	if d := deploy(t, s, "p", "research", ""); d.Version != 3 {
		t.Errorf("the next deploy after reopening got version %d, want 3", d.Version)
	}
}

func TestAFileFromANewerSchemaIsRefusedUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sqlstore.Open(path)
	if err == nil || !strings.Contains(err.Error(), "schema version 99") || !strings.Contains(err.Error(), "upgrade kitaru") {
		t.Fatalf("open a schema-99 file: %v, want a refusal naming the version and the fix", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the refused file was changed")
	}
}

func TestWritersOfTwoStoresOnOneFileQueueInsteadOfFailing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	var stores []*sqlstore.Store
	for range 2 {
		s, err := sqlstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		stores = append(stores, s)
	}
	const each = 24
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, s := range stores {
		for range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.Deploy(ctx, registry.DeployRequest{Project: "p", Flow: "busy", Entrypoint: "f.py:busy", Stack: "dev", By: "tester"})
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a concurrent deploy failed: %v", err)
		}
	}
	fs, err := stores[1].GetFlow(ctx, "p", "busy")
	if err != nil {
		t.Fatal(err)
	}
	if fs.DeploymentCount != 2*each || fs.LatestVersion != 2*each {
		t.Fatalf("%d deployments, latest v%d; want %d dense versions", fs.DeploymentCount, fs.LatestVersion, 2*each)
	}
}

func TestPageTokensAreOpaqueAndBoundToTheirList(t *testing.T) {
	s := openStore(t, false, nil)
	for range 5 {
		deploy(t, s, "p", "paged", "")
	}
	deploy(t, s, "p", "other", "")
	var got []int
	token := ""
	for {
		page, err := s.ListDeployments(ctx, "p", "paged", registry.PageRequest{Limit: 2, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range page.Items {
			got = append(got, d.Version)
		}
		if page.NextToken == "" {
			break
		}
		token = page.NextToken
	}
	if fmt.Sprint(got) != "[5 4 3 2 1]" {
		t.Fatalf("paged versions %v, want [5 4 3 2 1]", got)
	}
	first, err := s.ListDeployments(ctx, "p", "paged", registry.PageRequest{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for name, list := range map[string]func(token string) error{
		"another flow's versions": func(tok string) error {
			_, err := s.ListDeployments(ctx, "p", "other", registry.PageRequest{Token: tok})
			return err
		},
		"another project's versions": func(tok string) error {
			_, err := s.ListDeployments(ctx, "q", "paged", registry.PageRequest{Token: tok})
			return err
		},
		"the flow's tag history": func(tok string) error {
			_, err := s.TagHistory(ctx, "p", "paged", "default", registry.PageRequest{Token: tok})
			return err
		},
		"the project's flows": func(tok string) error {
			_, err := s.ListFlows(ctx, "p", registry.PageRequest{Token: tok})
			return err
		},
	} {
		t.Run("a versions token is refused by "+name, func(t *testing.T) {
			wantInvalidToken(t, list(first.NextToken))
		})
	}
	for _, bad := range []string{"garbage!", "e30", first.NextToken[:len(first.NextToken)-2]} {
		t.Run("a mangled token "+bad+" is invalid_argument", func(t *testing.T) {
			_, err := s.ListDeployments(ctx, "p", "paged", registry.PageRequest{Token: bad})
			wantInvalidToken(t, err)
		})
	}
}

func wantInvalidToken(t *testing.T, err error) {
	t.Helper()
	if registry.CodeOf(err) != registry.CodeInvalidArgument || !strings.Contains(err.Error(), "next_token") {
		t.Fatalf("got %v, want invalid_argument about next_token", err)
	}
}
