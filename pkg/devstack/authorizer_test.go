package devstack_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/localdynamo"
	"github.com/kitaru/deployments/pkg/registry"
)

// startOnTable runs a dev server on a table the test can also write to:
// DynamoDB Local when DYNAMODB_ENDPOINT is set, else a minidyn of its own.
func startOnTable(t *testing.T) (*devstack.Server, *dynamo.Store) {
	t.Helper()
	ctx := context.Background()
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		local, err := localdynamo.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = local.Close() })
		endpoint = local.URL
	}
	table := fmt.Sprintf("authorizer-test-%d", time.Now().UnixNano())
	srv, err := devstack.Start(ctx, devstack.Config{Addr: "127.0.0.1:0", DynamoDBEndpoint: endpoint, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	devKey = srv.APIKey()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	db, err := defaultconfig.NewClient(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return srv, dynamo.New(db, table)
}

func TestDevRunsTheLambdaAuthorizerWithItsDenyAndCache(t *testing.T) {
	srv, store := startOnTable(t)
	ctx := context.Background()
	key, plain, err := auth.NewKey([]string{"team-a"}, registry.RoleProducer, "authorizer test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	get := func(path, authorization, project string) (int, api.ErrorBody) {
		t.Helper()
		header := []string{"Authorization", authorization}
		if project != "" {
			header = append(header, "X-Kitaru-Project", project)
		}
		status, _, body := call(t, "GET", srv.URL()+path, "", header...)
		var e api.ErrorBody
		if status >= 400 {
			e = decode[api.ErrorBody](t, body)
		}
		return status, e
	}

	t.Run("a key used for a project it lacks is denied by the policy, every time", func(t *testing.T) {
		for range 2 {
			status, e := get("/v1/flows", "Bearer "+devKey, "team-a")
			if status != http.StatusForbidden || e.Error.Code != registry.CodePermissionDenied || e.Error.Message != httpapi.AccessDeniedMessage {
				t.Fatalf("status %d %+v; want 403 permission_denied with the gateway's message", status, e.Error)
			}
		}
	})
	t.Run("an allow is cached per identity: a key revoked after it still works until the TTL ends", func(t *testing.T) {
		for _, path := range []string{"/v1/flows", "/v1/stacks"} {
			if status, e := get(path, "Bearer "+plain, "team-a"); status != http.StatusOK {
				t.Fatalf("GET %s before the revocation: %d %+v", path, status, e.Error)
			}
		}
		if _, err := store.RevokeKey(ctx, key.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if status, e := get("/v1/flows", "Bearer "+plain, "team-a"); status != http.StatusOK {
			t.Errorf("GET /v1/flows after the revocation, within %v: %d %+v; want the cached allow", devstack.AuthorizerCacheTTL, status, e.Error)
		}
		// Another identity (no X-Kitaru-Project) is asked afresh: the key is revoked.
		if status, e := get("/v1/flows", "Bearer "+plain, ""); status != http.StatusUnauthorized || e.Error.Code != registry.CodeUnauthenticated {
			t.Errorf("the revoked key under another identity: %d %+v; want 401", status, e.Error)
		}
	})
	t.Run("Unauthorized is not cached and says what is wrong", func(t *testing.T) {
		bad := "Bearer " + devKey[:len(devKey)-2] + "zz"
		for range 2 {
			status, e := get("/v1/flows", bad, "")
			if status != http.StatusUnauthorized || e.Error.Code != registry.CodeUnauthenticated || e.Error.Message == httpapi.MissingIdentityMessage {
				t.Fatalf("status %d %+v; want 401 with the authenticator's message", status, e.Error)
			}
		}
	})
}
