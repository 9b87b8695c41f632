package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/blob/s3blob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/cli"
	"github.com/kitaru/deployments/pkg/registry"
)

// fakeRequest is one request the fake server saw.
type fakeRequest struct {
	Method, Path string
	Header       http.Header
	Body         map[string]json.RawMessage
}

// fakeKitaru speaks the documented JSON of the deploy, artifact,
// invocation and execution routes (docs/executions.md) until the real
// handlers land; uploads go to a real gofakes3 server. It validates
// deployed bundles with the server's own check.
type fakeKitaru struct {
	*httptest.Server
	t     *testing.T
	blobs *s3blob.Store

	mu          sync.Mutex
	requests    []fakeRequest
	versions    map[string]int
	executions  []registry.Execution // successive answers of GET /v1/executions/{id}; the last repeats
	failWith    *api.ErrorBody       // when set, every API request fails with it
	failStatus  int
	artifacts   []bool // the exists answers given
	afterInvoke func() // when set, runs once an invocation is answered
}

func newFakeKitaru(t *testing.T) *fakeKitaru {
	t.Helper()
	srv, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f := &fakeKitaru{t: t, blobs: srv.Store(), versions: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/artifacts", f.createArtifact)
	mux.HandleFunc("POST /v1/flows/{flow}/deployments", f.deploy)
	mux.HandleFunc("POST /v1/flows/{flow}/invocations", f.invoke)
	mux.HandleFunc("GET /v1/executions/{id}", f.getExecution)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		var body map[string]json.RawMessage
		json.Unmarshal(data, &body)
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
		failWith, status := f.failWith, f.failStatus
		f.mu.Unlock()
		if failWith != nil {
			answer(w, status, failWith)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	t.Setenv("KITARU_CONFIG_DIR", t.TempDir())
	t.Setenv("KITARU_SERVER_URL", f.URL)
	t.Setenv("KITARU_AUTH_TOKEN", fakeAPIKey)
	t.Setenv("KITARU_PROJECT", fakeProject)
	return f
}

// fakeProject is the project the fake server stores bundles in.
const fakeProject = "default"

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, err error) {
	e := err.(*registry.Error)
	status := map[registry.Code]int{registry.CodeInvalidArgument: 400, registry.CodeUnprocessable: 422, registry.CodePayloadTooLarge: 413, registry.CodeNotFound: 404}[e.Code]
	answer(w, status, api.ErrorBody{Error: api.ErrorDetail{Code: e.Code, Message: e.Message, Details: e.Details}})
}

func (f *fakeKitaru) createArtifact(w http.ResponseWriter, r *http.Request) {
	var b struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	json.NewDecoder(r.Body).Decode(&b)
	digest := "sha256:" + b.SHA256
	key, err := bundle.KeyFor(fakeProject, digest)
	if err != nil {
		refuse(w, err)
		return
	}
	_, exists, err := f.blobs.Stat(r.Context(), key)
	if err != nil {
		f.t.Errorf("stat: %v", err)
	}
	f.mu.Lock()
	f.artifacts = append(f.artifacts, exists)
	f.mu.Unlock()
	resp := map[string]any{"digest": digest, "exists": exists}
	if !exists {
		sum, _ := hex.DecodeString(b.SHA256)
		up, err := f.blobs.PresignPutSHA256(r.Context(), key, b.Size, sum, 15*time.Minute)
		if err != nil {
			f.t.Errorf("presign: %v", err)
		}
		resp["upload"] = up
	}
	answer(w, http.StatusOK, resp)
}

func (f *fakeKitaru) deploy(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Entrypoint string `json:"entrypoint"`
		Source     struct {
			Digest  string `json:"digest"`
			Archive []byte `json:"archive"`
			Commit  string `json:"commit"`
			Dirty   bool   `json:"dirty"`
		} `json:"source"`
		Inputs    json.RawMessage `json:"inputs"`
		Tag       string          `json:"tag"`
		Exclusive bool            `json:"exclusive"`
		Stack     string          `json:"stack"`
	}
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		refuse(w, registry.Errorf(registry.CodeInvalidArgument, "body: %v", err))
		return
	}
	file, _, err := registry.ParseEntrypoint(b.Entrypoint)
	if err != nil {
		refuse(w, err)
		return
	}
	data := b.Source.Archive
	if b.Source.Digest != "" {
		key, err := bundle.KeyFor(fakeProject, b.Source.Digest)
		if err != nil {
			refuse(w, err)
			return
		}
		rc, err := f.blobs.Get(r.Context(), key)
		if err != nil {
			refuse(w, err)
			return
		}
		data, _ = io.ReadAll(rc)
		rc.Close()
	}
	info, err := bundle.Validate(bytes.NewReader(data), bundle.Limits{}, file)
	if err != nil {
		refuse(w, err)
		return
	}
	flow := r.PathValue("flow")
	f.mu.Lock()
	f.versions[flow]++
	v := f.versions[flow]
	f.mu.Unlock()
	tags := map[string]bool{}
	if b.Tag == "" || b.Tag == registry.DefaultTag {
		tags[registry.DefaultTag] = true
	} else {
		tags[b.Tag] = b.Exclusive
	}
	if v == 1 {
		tags[registry.DefaultTag] = true
	}
	stack := b.Stack
	if stack == "" {
		stack = "dev"
	}
	answer(w, http.StatusCreated, registry.Deployment{
		Project: "default", Flow: flow, Version: v, Snapshot: registry.SnapshotName(flow, v), Tags: tags,
		Entrypoint: b.Entrypoint, Inputs: b.Inputs, Stack: stack,
		Source: &registry.Source{Digest: info.Digest, Size: info.Size, Commit: b.Source.Commit, Dirty: b.Source.Dirty},
	})
}

func (f *fakeKitaru) invoke(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Tag     string `json:"tag"`
		Version int    `json:"version"`
	}
	json.NewDecoder(r.Body).Decode(&b)
	sel := registry.Selector{Tag: b.Tag, Version: b.Version}
	if sel.Tag == "" && sel.Version == 0 {
		sel.Tag = registry.DefaultTag
	}
	version := 2
	if b.Version != 0 {
		version = b.Version
	}
	answer(w, http.StatusAccepted, registry.Execution{
		ExecID: fakeExecID, Flow: r.PathValue("flow"), Version: version, Selector: sel, Status: registry.StatusRunning,
	})
	if f.afterInvoke != nil {
		f.afterInvoke()
	}
}

const fakeExecID = "ex_01j00000000000000000000000"

func (f *fakeKitaru) getExecution(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.executions) == 0 {
		refuse(w, registry.Errorf(registry.CodeNotFound, "execution %q does not exist", r.PathValue("id")))
		return
	}
	e := f.executions[0]
	if len(f.executions) > 1 {
		f.executions = f.executions[1:]
	}
	answer(w, http.StatusOK, e)
}

func (f *fakeKitaru) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeKitaru) artifactAnswers() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.artifacts...)
}

// only returns the requests to path.
func (f *fakeKitaru) only(method, path string) []fakeRequest {
	var out []fakeRequest
	for _, r := range f.seen() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeKitaru) failAll(status int, code registry.Code, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failStatus = status
	f.failWith = &api.ErrorBody{Error: api.ErrorDetail{Code: code, Message: message, Details: map[string]any{"flow": "research_agent"}}}
}

// kitaru runs the CLI and returns its exit code and output.
func kitaru(t *testing.T, args ...string) (exit int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	exit = cli.Run(context.Background(), args, &out, &errOut)
	return exit, out.String(), errOut.String()
}

// newProject writes an initialized project with a research flow.
func newProject(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		".kitaru/config.json": `{"version": 1}`,
		"flows/research.py":   "from lib.util import clean\n\ndef research_agent(topic):\n    return clean(topic)\n",
		"lib/util.py":         "def clean(s):\n    return s.strip()\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func field[T any](t *testing.T, body map[string]json.RawMessage, key string) T {
	t.Helper()
	var v T
	if raw, ok := body[key]; ok {
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("field %s = %s: %v", key, raw, err)
		}
	}
	return v
}

func TestDeploySendsTheProjectInline(t *testing.T) {
	f := newFakeKitaru(t)
	root := newProject(t)
	exit, stdout, stderr := kitaru(t, "deploy", filepath.Join(root, "flows", "research.py")+":research_agent",
		"--tag", "canary", "--exclusive", "--input", `{"topic": "durable agents"}`, "--stack", "dev", "--description", "first try")
	if exit != cli.ExitOK {
		t.Fatalf("exit %d; stderr %s", exit, stderr)
	}
	reqs := f.only("POST", "/v1/flows/research_agent/deployments")
	if len(reqs) != 1 || len(f.seen()) != 1 {
		t.Fatalf("requests %v; want one deploy", f.seen())
	}
	body := reqs[0].Body

	t.Run("the entrypoint is relative to the project root", func(t *testing.T) {
		if got := field[string](t, body, "entrypoint"); got != "flows/research.py:research_agent" {
			t.Errorf("entrypoint %q", got)
		}
	})
	t.Run("the bundle is inline base64 holding the whole project", func(t *testing.T) {
		src := field[map[string]string](t, body, "source")
		if src["digest"] != "" {
			t.Errorf("source has a digest %q as well", src["digest"])
		}
		data, err := base64.StdEncoding.DecodeString(src["archive"])
		if err != nil {
			t.Fatal(err)
		}
		info, err := bundle.Validate(bytes.NewReader(data), bundle.Limits{}, "lib/util.py")
		if err != nil || info.Files != 3 {
			t.Errorf("bundle %+v, %v; want the 3 project files", info, err)
		}
	})
	t.Run("tag, exclusivity, inputs, stack and description are sent", func(t *testing.T) {
		if field[string](t, body, "tag") != "canary" || !field[bool](t, body, "exclusive") || field[string](t, body, "stack") != "dev" || field[string](t, body, "description") != "first try" {
			t.Errorf("body %v", body)
		}
		if got := string(body["inputs"]); got != `{"topic":"durable agents"}` {
			t.Errorf("inputs %s", got)
		}
	})
	t.Run("the summary names the version, snapshot and tags with exclusive ones marked", func(t *testing.T) {
		for _, want := range []string{"Deployed research_agent version 1 (snapshot kitaru::research_agent::v1)", "canary*, default*", "flows/research.py:research_agent", "kitaru invoke research_agent --version 1"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("stdout %q lacks %q", stdout, want)
			}
		}
	})
}

func TestDeployFindsTheProjectRootAboveTheCurrentDirectory(t *testing.T) {
	f := newFakeKitaru(t)
	root := newProject(t)
	t.Chdir(filepath.Join(root, "flows"))
	if exit, _, stderr := kitaru(t, "deploy", "research.py:research_agent"); exit != cli.ExitOK {
		t.Fatalf("exit %d; stderr %s", exit, stderr)
	}
	if got := field[string](t, f.only("POST", "/v1/flows/research_agent/deployments")[0].Body, "entrypoint"); got != "flows/research.py:research_agent" {
		t.Errorf("entrypoint %q", got)
	}
}

func TestDeployJSONOutput(t *testing.T) {
	newFakeKitaru(t)
	root := newProject(t)
	exit, stdout, stderr := kitaru(t, "deploy", filepath.Join(root, "flows", "research.py")+":research_agent", "-o", "json")
	if exit != cli.ExitOK {
		t.Fatalf("exit %d; stderr %s", exit, stderr)
	}
	var out struct {
		Command string              `json:"command"`
		Item    registry.Deployment `json:"item"`
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("stdout %q: %v", stdout, err)
	}
	if out.Command != "deploy" || out.Item.Version != 1 || !out.Item.Tags["default"] || out.Item.Source == nil {
		t.Errorf("output %+v", out)
	}
}

func TestDeployUploadsLargeProjectsOnce(t *testing.T) {
	f := newFakeKitaru(t)
	root := newProject(t)
	// Incompressible, so the bundle is over the inline limit.
	big := make([]byte, bundle.MaxInlineArchiveBytes+(1<<20))
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(filepath.Join(root, "model.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(root, "flows", "research.py") + ":research_agent"
	for i, wantExists := range []bool{false, true} {
		exit, _, stderr := kitaru(t, "deploy", target)
		if exit != cli.ExitOK {
			t.Fatalf("deploy %d: exit %d; stderr %s", i+1, exit, stderr)
		}
		if got := f.artifactAnswers()[i]; got != wantExists {
			t.Errorf("deploy %d: server had the bundle = %v, want %v", i+1, got, wantExists)
		}
	}
	deploys := f.only("POST", "/v1/flows/research_agent/deployments")
	if len(deploys) != 2 {
		t.Fatalf("deploys %d, want 2", len(deploys))
	}
	for _, d := range deploys {
		src := field[map[string]any](t, d.Body, "source")
		if _, inline := src["archive"]; inline || !strings.HasPrefix(src["digest"].(string), "sha256:") {
			t.Errorf("source %v; want a digest only", src)
		}
	}
	art := f.only("POST", "/v1/artifacts")[0].Body
	if size := field[int64](t, art, "size"); size <= bundle.MaxInlineArchiveBytes {
		t.Errorf("artifact size %d is not the large bundle's", size)
	}
}

func TestDeployRefusals(t *testing.T) {
	tests := []struct {
		name     string
		args     func(root string) []string
		setup    func(t *testing.T, root string)
		wantExit int
		wantErr  string
	}{
		{
			name:  "a project without .kitaru tells the user to run kitaru init",
			setup: func(t *testing.T, root string) { os.RemoveAll(filepath.Join(root, ".kitaru")) },
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":research_agent"}
			},
			wantExit: cli.ExitError, wantErr: "run `kitaru init` in the repository root",
		},
		{
			name: "inputs that are a JSON array are a usage error",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":research_agent", "--input", "[1]"}
			},
			wantExit: cli.ExitUsage, wantErr: "JSON object",
		},
		{
			name: "inputs that are not JSON are a usage error",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":research_agent", "--input", "{topic: x}"}
			},
			wantExit: cli.ExitUsage, wantErr: "not valid JSON",
		},
		{
			name: "an inputs file that does not exist is a usage error",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":research_agent", "--input", "@" + filepath.Join(root, "nope.json")}
			},
			wantExit: cli.ExitUsage, wantErr: "nope.json",
		},
		{
			name:     "a target without a flow name is a usage error",
			args:     func(root string) []string { return []string{"deploy", filepath.Join(root, "flows/research.py")} },
			wantExit: cli.ExitUsage, wantErr: "path/to/file.py:function",
		},
		{
			name: "a flow name that is not a Python identifier is a usage error",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":research-agent"}
			},
			wantExit: cli.ExitUsage, wantErr: "function",
		},
		{
			name:     "a target that is not a Python file is a usage error",
			args:     func(root string) []string { return []string{"deploy", filepath.Join(root, "lib") + ":clean"} },
			wantExit: cli.ExitUsage, wantErr: ".py",
		},
		{
			name: "a missing target file is an error",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/missing.py") + ":research_agent"}
			},
			wantExit: cli.ExitError, wantErr: "not a file",
		},
		{
			name: "an entrypoint in a directory the bundle skips is refused before upload",
			setup: func(t *testing.T, root string) {
				os.MkdirAll(filepath.Join(root, "venv"), 0o755)
				os.WriteFile(filepath.Join(root, "venv", "flow.py"), []byte("def f(): pass\n"), 0o644)
			},
			args:     func(root string) []string { return []string{"deploy", filepath.Join(root, "venv/flow.py") + ":f"} },
			wantExit: cli.ExitError, wantErr: "relative to the project root",
		},
		{
			name: "a function the file does not define is refused, listing the ones it does",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":nosuch"}
			},
			wantExit: cli.ExitError, wantErr: `has no module-level function "nosuch" (its module-level functions: `,
		},
		{
			name: "a function nested in another is not module level",
			setup: func(t *testing.T, root string) {
				os.WriteFile(filepath.Join(root, "flows", "nested.py"), []byte("def outer():\n    def inner(): pass\n"), 0o644)
			},
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/nested.py") + ":inner"}
			},
			wantExit: cli.ExitError, wantErr: "its module-level functions: outer",
		},
		{
			name: "a file Python cannot parse is refused naming the line",
			setup: func(t *testing.T, root string) {
				os.WriteFile(filepath.Join(root, "flows", "broken.py"), []byte("x = 1\ndef f(:\n"), 0o644)
			},
			args:     func(root string) []string { return []string{"deploy", filepath.Join(root, "flows/broken.py") + ":f"} },
			wantExit: cli.ExitError, wantErr: "(line 2)",
		},
		{
			name: "a target with two colons is a usage error saying so",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":a::b"}
			},
			wantExit: cli.ExitUsage, wantErr: `more than one ":"`,
		},
		{
			name: "an input schema that is not a JSON Schema is a usage error",
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":research_agent", "--input-schema", `{"type": "objekt"}`}
			},
			wantExit: cli.ExitUsage, wantErr: "input_schema is not a valid JSON Schema",
		},
		{
			name:  "a symlink out of the project is refused",
			setup: func(t *testing.T, root string) { os.Symlink("/etc/passwd", filepath.Join(root, "lib", "passwd")) },
			args: func(root string) []string {
				return []string{"deploy", filepath.Join(root, "flows/research.py") + ":research_agent"}
			},
			wantExit: cli.ExitError, wantErr: "outside the project root",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeKitaru(t)
			root := newProject(t)
			if tt.setup != nil {
				tt.setup(t, root)
			}
			exit, _, stderr := kitaru(t, tt.args(root)...)
			if exit != tt.wantExit || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", exit, stderr, tt.wantExit, tt.wantErr)
			}
			if n := len(f.seen()); n != 0 {
				t.Errorf("%d requests were sent; want none", n)
			}
		})
	}
}

func TestDeployReadsInputsFromAFile(t *testing.T) {
	f := newFakeKitaru(t)
	root := newProject(t)
	inputs := filepath.Join(root, "inputs.json")
	os.WriteFile(inputs, []byte("{\n  \"topic\": \"from a file\"\n}\n"), 0o644)
	if exit, _, stderr := kitaru(t, "deploy", filepath.Join(root, "flows/research.py")+":research_agent", "--input", "@"+inputs); exit != cli.ExitOK {
		t.Fatalf("exit %d; stderr %s", exit, stderr)
	}
	if got := string(f.only("POST", "/v1/flows/research_agent/deployments")[0].Body["inputs"]); got != `{"topic":"from a file"}` {
		t.Errorf("inputs %s", got)
	}
}

func TestDeployShowsServerErrors(t *testing.T) {
	target := func(root string) string { return filepath.Join(root, "flows/research.py") + ":research_agent" }
	t.Run("as error: message with exit 1", func(t *testing.T) {
		f := newFakeKitaru(t)
		f.failAll(412, registry.CodePreconditionFailed, `stack "local" cannot run deployments remotely; pick a remote-executable stack`)
		exit, stdout, stderr := kitaru(t, "deploy", target(newProject(t)), "--stack", "local")
		if exit != cli.ExitError || stderr != "error: stack \"local\" cannot run deployments remotely; pick a remote-executable stack\n" || stdout != "" {
			t.Errorf("exit %d, stdout %q, stderr %q", exit, stdout, stderr)
		}
	})
	t.Run("as a JSON envelope on stderr with -o json", func(t *testing.T) {
		f := newFakeKitaru(t)
		f.failAll(409, registry.CodeConflict, "tag moved concurrently; retry")
		exit, _, stderr := kitaru(t, "deploy", target(newProject(t)), "-o", "json")
		var out struct {
			Command string          `json:"command"`
			Error   api.ErrorDetail `json:"error"`
		}
		if err := json.Unmarshal([]byte(stderr), &out); err != nil {
			t.Fatalf("stderr %q: %v", stderr, err)
		}
		if exit != cli.ExitError || out.Command != "deploy" || out.Error.Code != registry.CodeConflict || out.Error.Message != "tag moved concurrently; retry" || out.Error.Details["flow"] != "research_agent" {
			t.Errorf("exit %d, output %+v", exit, out)
		}
	})
}

func TestDeploySendsTheGitCommit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	f := newFakeKitaru(t)
	root := newProject(t)
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", root, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", ".")
	git("commit", "-q", "-m", "initial")
	head := git("rev-parse", "HEAD")
	target := filepath.Join(root, "flows/research.py") + ":research_agent"

	for _, tt := range []struct {
		name      string
		change    func()
		wantDirty bool
	}{
		{"a clean checkout sends the commit", func() {}, false},
		{"an edited file marks the source dirty", func() { os.WriteFile(filepath.Join(root, "lib", "util.py"), []byte("edited\n"), 0o644) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.change()
			if exit, _, stderr := kitaru(t, "deploy", target); exit != cli.ExitOK {
				t.Fatalf("exit %d; stderr %s", exit, stderr)
			}
			deploys := f.only("POST", "/v1/flows/research_agent/deployments")
			src := field[map[string]any](t, deploys[len(deploys)-1].Body, "source")
			if src["commit"] != head || (src["dirty"] == true) != tt.wantDirty {
				t.Errorf("source commit %v dirty %v; want %s, %v", src["commit"], src["dirty"], head, tt.wantDirty)
			}
		})
	}
}
