package devstack_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// persistentEndpoint is a DynamoDB that keeps data across dev restarts:
// DYNAMODB_ENDPOINT (scripts/dynamodb-local.sh start), else the test skips.
func persistentEndpoint(t *testing.T) string {
	t.Helper()
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("KITARU_REQUIRE_DYNAMODB_LOCAL") != "" {
			t.Fatal("KITARU_REQUIRE_DYNAMODB_LOCAL is set but DYNAMODB_ENDPOINT is not: start scripts/dynamodb-local.sh")
		}
		t.Skip("set DYNAMODB_ENDPOINT to a DynamoDB Local (scripts/dynamodb-local.sh start) to test restarts")
	}
	return endpoint
}

func TestARestartOnTheSameDataDirectoryKeepsEverything(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	cfg := devstack.Config{Addr: "127.0.0.1:0", DataDir: data, FlowOutput: io.Discard}
	first, err := devstack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := "SQLite " + filepath.Join(data, devstack.RegistryFile); first.Backend() != want {
		t.Errorf("backend %q, want %q", first.Backend(), want)
	}
	cfg.APIKey = first.APIKey()
	a := devClient{t: t, url: first.URL(), key: first.APIKey()}
	d := a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "restarts"}})
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "second"}, "tag": "canary"})
	var tag registry.Tag
	if status := a.do("PUT", "/v1/flows/research_agent/tags/stable", map[string]any{"version": d.Version, "exclusive": true}, nil, &tag); status != http.StatusOK {
		t.Fatalf("tag: %d", status)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := devstack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := second.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	a.url = second.URL()
	t.Run("the deployments and tags made before the restart are there", func(t *testing.T) {
		var fs registry.FlowSummary
		if status := a.do("GET", "/v1/flows/research_agent", nil, nil, &fs); status != http.StatusOK {
			t.Fatalf("get flow: %d", status)
		}
		if fs.DeploymentCount != 2 || fmt.Sprint(fs.Tags) != "map[canary:[2] default:[1] stable:[1]]" {
			t.Errorf("flow after the restart: %d deployments, tags %v", fs.DeploymentCount, fs.Tags)
		}
		var history registry.Page[registry.RouteChange]
		if status := a.do("GET", "/v1/flows/research_agent/tags/stable/history", nil, nil, &history); status != http.StatusOK || len(history.Items) != 1 {
			t.Errorf("history of stable: %d, %+v", status, history.Items)
		}
	})
	t.Run("a deployment made before the restart still runs from its saved bundle", func(t *testing.T) {
		var e registry.Execution
		if status := a.do("POST", "/v1/flows/research_agent/invocations", map[string]any{"tag": "stable"}, nil, &e); status != http.StatusAccepted {
			t.Fatalf("invoke: %d", status)
		}
		if e = a.wait(e.ExecID, 60*time.Second); e.Status != registry.StatusCompleted {
			t.Errorf("execution ended %s: %+v, want completed", e.Status, e.Error)
		}
	})
	t.Run("the next deploy continues the version numbers", func(t *testing.T) {
		if d := a.deployProject("research", "flows/research.py:research_agent", nil); d.Version != 3 {
			t.Errorf("version %d, want 3", d.Version)
		}
	})
}

func TestARestartOnAPersistentTableKeepsBundles(t *testing.T) {
	cfg := devstack.Config{
		Addr:             "127.0.0.1:0",
		DynamoDBEndpoint: persistentEndpoint(t),
		Table:            fmt.Sprintf("restart-test-%d", time.Now().UnixNano()),
		DataDir:          filepath.Join(t.TempDir(), "data"),
		FlowOutput:       io.Discard,
	}
	first, err := devstack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.APIKey = first.APIKey()
	a := devClient{t: t, url: first.URL(), key: first.APIKey()}
	a.deployProject("research", "flows/research.py:research_agent", map[string]any{"inputs": map[string]any{"topic": "restarts"}})
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := devstack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := second.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	a.url = second.URL()
	t.Run("a deployment made before the restart still runs", func(t *testing.T) {
		var e registry.Execution
		if status := a.do("POST", "/v1/flows/research_agent/invocations", map[string]any{}, nil, &e); status != http.StatusAccepted {
			t.Fatalf("invoke: %d", status)
		}
		if e = a.wait(e.ExecID, 60*time.Second); e.Status != registry.StatusCompleted {
			t.Errorf("execution ended %s: %+v, want completed", e.Status, e.Error)
		}
	})
}
