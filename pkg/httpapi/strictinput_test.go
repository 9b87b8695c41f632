package httpapi_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
)

// TestLenientInputIsRefused covers what encoding/json and strconv accept
// but the contract does not: duplicate keys at any depth, versions that are
// not canonical, entrypoints that can never run, numbers Python cannot hold
// and schemas that refer outside themselves. Each is a 400 naming what is
// wrong, and leaves the table unchanged.
func TestLenientInputIsRefused(t *testing.T) {
	f := newFixture(t)
	all := f.handler(httpapi.Config{
		Executions: f.store,
		Invoker:    &invoke.Service{Registry: f.store, Execs: f.store, Executor: fakeStepFunctions{}, Objects: artifactStore, Stacks: devStacks},
	})
	must(t, all, request("POST", "/v1/flows/research_agent/deployments", deployBody("")), 201)
	must(t, all, request("POST", "/v1/flows/research_agent/deployments", deployBody(`"tag": "canary", "exclusive": true`)), 201)

	const deploy = "/v1/flows/research_agent/deployments"
	const invocations = "/v1/flows/research_agent/invocations"
	tests := []struct {
		name    string
		req     string // METHOD target
		body    string
		mention string
	}{
		{"a duplicate top-level key is refused naming it", "POST " + deploy, deployBody(`"tag": "zz", "exclusive": true, "tag": "default"`), `"tag"`},
		{"a duplicate key spelt with an escape is refused", "POST " + deploy, deployBody(`"description": "a", "d\u0065scription": "b"`), `"description"`},
		{"a duplicate key inside inputs is refused naming its path", "POST " + deploy, strings.Replace(deployBody(""), `"topic": "durable agents"`, `"topic": "a", "topic": "b"`, 1), `"inputs.topic"`},
		{"a duplicate key deep inside inputs is refused naming its path", "POST " + deploy, strings.Replace(deployBody(""), `"topic": "durable agents"`, `"topic": "a", "opts": [{"k": 1, "k": 2}]`, 1), `"inputs.opts.0.k"`},
		{"a duplicate key inside source is refused naming its path", "POST " + deploy, deployBody(`"source": {"digest": "sha256:` + strings.Repeat("0", 64) + `", "digest": "x"}`), `"source.digest"`},
		{"a duplicate key inside input_schema is refused naming its path", "POST " + deploy, deployBody(`"input_schema": {"type": "object", "type": "string"}`), `"input_schema.type"`},
		{"a duplicate version in a tag body is refused", "PUT /v1/flows/research_agent/tags/stable", `{"version": 1, "version": 2}`, `"version"`},
		{"a duplicate tag in an invoke body is refused", "POST " + invocations, `{"tag": "canary", "tag": "default"}`, `"tag"`},
		{"a duplicate input on a pinned invoke is refused", "POST /v1/flows/research_agent/versions/1/invocations", `{"inputs": {"topic": "a", "topic": "b"}}`, `"inputs.topic"`},

		{"version +1 in the path is refused", "GET " + deploy + "/+1", "", "+1"},
		{"version 01 in the path is refused", "GET " + deploy + "/01", "", "01"},
		{"version 01 on delete is refused", "DELETE " + deploy + "/01", "", "leading zeros"},
		{"version +1 on a pinned invoke is refused", "POST /v1/flows/research_agent/versions/+1/invocations", "", "+1"},
		{"version 01 in a resolve query is refused", "GET /v1/flows/research_agent/resolve?version=01", "", "01"},
		{"version +2 on tag removal is refused", "DELETE /v1/flows/research_agent/tags/canary?version=%2B2", "", "+2"},

		{"an entrypoint naming a module attribute is refused", "POST " + deploy, withEntrypoint("flows/research.py:os.system"), "path/to/file.py:function"},
		{"an entrypoint without a file is refused", "POST " + deploy, withEntrypoint(":import"), "path/to/file.py:function"},
		{"an entrypoint naming a keyword is refused", "POST " + deploy, withEntrypoint("flows/research.py:import"), "keyword"},
		{"an entrypoint with two colons is refused", "POST " + deploy, withEntrypoint("flows/research.py:f:g"), `exactly one ":"`},

		{"1e400 in deploy inputs is refused naming the key", "POST " + deploy, strings.Replace(deployBody(""), `"topic": "durable agents"`, `"topic": "a", "limit": 1e400`, 1), `"inputs.limit"`},
		{"1e-400 in deploy inputs is refused naming the key", "POST " + deploy, strings.Replace(deployBody(""), `"topic": "durable agents"`, `"topic": "a", "eps": 1e-400`, 1), `"inputs.eps"`},
		{"1e400 in invoke inputs is refused naming the key", "POST " + invocations, `{"inputs": {"topic": 1e400}}`, `"inputs.topic"`},

		{"an input_schema $ref to a file is refused naming it", "POST " + deploy, deployBody(`"input_schema": {"$ref": "file:///etc/passwd"}`), `"file:///etc/passwd"`},
		{"an input_schema $ref to a relative file is refused naming it", "POST " + deploy, deployBody(`"input_schema": {"type": "object", "properties": {"topic": {"$ref": "secret.json"}}}`), `only in-document refs`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.state(t)
			method, target, _ := strings.Cut(tt.req, " ")
			msg := wantError(t, do(t, all, request(method, target, tt.body)), 400, registry.CodeInvalidArgument)
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
			if after := f.state(t); after != before {
				t.Errorf("the table changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	t.Run("canonical versions still work", func(t *testing.T) {
		must(t, all, request("GET", deploy+"/1", ""), 200)
		must(t, all, request("GET", "/v1/flows/research_agent/resolve?version=2", ""), 200)
	})
	t.Run("an in-document $ref deploys", func(t *testing.T) {
		must(t, all, request("POST", deploy, deployBody(`"input_schema": {"$defs": {"t": {"type": "string"}}, "type": "object", "properties": {"topic": {"$ref": "#/$defs/t"}}}`)), 201)
	})
}

// withEntrypoint is deployBody with another entrypoint.
func withEntrypoint(entrypoint string) string {
	return strings.Replace(deployBody(""), `"flows/research.py:research_agent"`, strconv.Quote(entrypoint), 1)
}
