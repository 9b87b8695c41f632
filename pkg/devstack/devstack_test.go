package devstack_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/registry"
)

// devKey is the API key of the dev server the current test started; call
// sends it unless the test passes its own Authorization header.
var devKey string

// start runs a dev server on a free loopback port for the test.
func start(t *testing.T) *devstack.Server {
	t.Helper()
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	devKey = srv.APIKey()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return srv
}

// call sends one request and returns the status, headers and body.
func call(t *testing.T, method, url, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	if _, given := req.Header["Authorization"]; !given && devKey != "" {
		req.Header.Set("Authorization", "Bearer "+devKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, url, ct)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, body, err)
	}
	return v
}

// TestProducerStoryOverHTTP runs the seed's producer story against kitaru dev.
func TestProducerStoryOverHTTP(t *testing.T) {
	srv := start(t)
	flow := srv.URL() + "/v1/flows/research_agent"
	archive, err := bundletest.ResearchArchive()
	if err != nil {
		t.Fatal(err)
	}
	inputs := `"inputs": {"topic": "durable agents"}, "source": {"archive": "` + archive + `"}`
	steps := []struct {
		name, method, url, body string
		status                  int
		check                   func(t *testing.T, body string)
	}{
		{"the first deploy becomes version 1 tagged default", "POST", flow + "/deployments",
			`{"entrypoint": "flows/research.py:research_agent", ` + inputs + `}`, 201,
			func(t *testing.T, body string) {
				d := decode[registry.Deployment](t, body)
				if d.Version != 1 || !cmp.Equal(d.Tags, map[string]bool{"default": true}) || d.Stack != "dev" || d.CreatedBy != strings.Split(devKey, "_")[1] {
					t.Errorf("deployment %+v, want v1 tagged default on stack dev by the dev key", d)
				}
			}},
		{"a canary deploy becomes version 2 tagged canary", "POST", flow + "/deployments",
			`{"entrypoint": "flows/research.py:research_agent", "tag": "canary", "exclusive": true, ` + inputs + `}`, 201,
			func(t *testing.T, body string) {
				d := decode[registry.Deployment](t, body)
				if d.Version != 2 || !cmp.Equal(d.Tags, map[string]bool{"canary": true}) {
					t.Errorf("deployment %+v, want v2 tagged canary", d)
				}
			}},
		{"canary resolves to version 2", "GET", flow + "/resolve?tag=canary", "", 200,
			func(t *testing.T, body string) {
				if r := decode[registry.Resolution](t, body); r.Deployment.Version != 2 {
					t.Errorf("canary resolved to %d, want 2", r.Deployment.Version)
				}
			}},
		{"stable moves to version 2 exclusively", "PUT", flow + "/tags/stable", `{"version": 2, "exclusive": true}`, 200, nil},
		{"benchmark is shared on version 2", "PUT", flow + "/tags/benchmark", `{"version": 2}`, 200, nil},
		{"the list shows each version's tags", "GET", flow + "/deployments", "", 200,
			func(t *testing.T, body string) {
				p := decode[registry.Page[registry.Deployment]](t, body)
				got := map[int]map[string]bool{}
				for _, d := range p.Items {
					got[d.Version] = d.Tags
				}
				want := map[int]map[string]bool{1: {"default": true}, 2: {"canary": true, "stable": true, "benchmark": false}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("tags per version (-want +got):\n%s", diff)
				}
			}},
		{"deleting version 2 is refused naming canary and stable", "DELETE", flow + "/deployments/2", "", 409,
			func(t *testing.T, body string) {
				e := decode[api.ErrorBody](t, body)
				if e.Error.Code != registry.CodeConflict || !strings.Contains(e.Error.Message, "canary") || !strings.Contains(e.Error.Message, "stable") {
					t.Errorf("envelope %s, want conflict naming canary and stable", body)
				}
			}},
	}
	for _, step := range steps {
		if !t.Run(step.name, func(t *testing.T) {
			status, _, body := call(t, step.method, step.url, step.body)
			if status != step.status {
				t.Fatalf("status %d, want %d; body %s", status, step.status, body)
			}
			if step.check != nil {
				step.check(t, body)
			}
		}) {
			t.FailNow() // later steps build on this one
		}
	}
}

func TestTheGatewayPassesRequestsThroughAsAPIGatewayWould(t *testing.T) {
	srv := start(t)
	flow := srv.URL() + "/v1/flows/research_agent"
	tests := []struct {
		name, method, url, body string
		header                  []string
		status                  int
		code                    registry.Code
		allow                   string
	}{
		{"a body over 10 MiB is refused before the handler", "POST", flow + "/deployments", strings.Repeat("x", devstack.MaxBodyBytes+1), nil, 413, registry.CodePayloadTooLarge, ""},
		{"a repeated query parameter reaches the handler as multi-value", "GET", flow + "/resolve?tag=a&tag=b", "", nil, 400, registry.CodeInvalidArgument, ""},
		{"a lower-case If-Match header reaches the handler", "PUT", flow + "/tags/stable", `{"version": 1}`, []string{"if-match", "abc"}, 400, registry.CodeInvalidArgument, ""},
		{"the Allow header comes back on 405", "PATCH", flow, "", nil, 405, registry.CodeInvalidArgument, "DELETE, GET"},
		{"an unknown path is a 404 envelope", "GET", srv.URL() + "/nowhere", "", nil, 404, registry.CodeNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := call(t, tt.method, tt.url, tt.body, tt.header...)
			if status != tt.status {
				t.Fatalf("status %d, want %d; body %s", status, tt.status, body)
			}
			if e := decode[api.ErrorBody](t, body); e.Error.Code != tt.code {
				t.Errorf("code %q, want %q; body %s", e.Error.Code, tt.code, body)
			}
			if got := header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestCloseStopsTheServer(t *testing.T) {
	srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	devKey = srv.APIKey()
	if status, _, body := call(t, "GET", srv.URL()+"/v1/stacks", ""); status != 200 {
		t.Fatalf("stacks: status %d, body %s", status, body)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if resp, err := http.Get(srv.URL() + "/v1/stacks"); err == nil {
		resp.Body.Close()
		t.Fatal("the server still answers after Close")
	}
}

func TestStartFailsOnABusyAddress(t *testing.T) {
	srv := start(t)
	_, err := devstack.Start(context.Background(), devstack.Config{Addr: strings.TrimPrefix(srv.URL(), "http://"), Table: "another"})
	if err == nil {
		t.Fatal("a second server started on a busy address")
	}
}

func TestStartFailsWithoutAWorkingInterpreterNamingPython(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("flows do not run on Windows: the interpreter is not needed")
	}
	broken := filepath.Join(t.TempDir(), "python3")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, python := range []string{filepath.Join(t.TempDir(), "no-python"), broken} {
		srv, err := devstack.Start(context.Background(), devstack.Config{Addr: "127.0.0.1:0", Python: python})
		if err == nil {
			srv.Close()
			t.Fatalf("dev started with the interpreter %s", python)
		}
		if !strings.Contains(err.Error(), "--python") {
			t.Errorf("the error %q does not name --python", err)
		}
	}
}
