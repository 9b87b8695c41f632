package devstack_test

import (
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestEveryRouteRefusesRequestsWithoutValidCredentials(t *testing.T) {
	srv := start(t)
	credentials := []struct {
		name, authorization string
	}{
		{"no credentials", ""},
		{"a malformed header", "Bearer"},
		{"another scheme", "Basic " + devKey},
		{"a key with a wrong secret", "Bearer " + devKey[:len(devKey)-2] + "zz"},
		{"a token from another server", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJwcm9qZWN0IjoiZGVmYXVsdCJ9.c2lnbmF0dXJl"},
	}
	for _, r := range httpapi.Routes() {
		path := strings.NewReplacer("{flow}", "research_agent", "{version}", "1", "{tag}", "stable", "{exec_id}", "ex_01m8e17nzy1awtpehxec7jexvr").Replace(r.Path)
		for _, c := range credentials {
			t.Run(r.Method+" "+r.Path+" with "+c.name, func(t *testing.T) {
				header := []string{"Authorization", c.authorization}
				status, _, body := call(t, r.Method, srv.URL()+path, `{}`, header...)
				if status != 401 {
					t.Fatalf("status %d, body %s", status, body)
				}
				if e := decode[api.ErrorBody](t, body); e.Error.Code != registry.CodeUnauthenticated || e.Error.Message == "" {
					t.Fatalf("envelope %s", body)
				}
			})
		}
	}
}
