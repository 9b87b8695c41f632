package devstack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/devstack"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// Bounds of the crash test's load: crashWorkers clients, each sending at
// most crashOpsPerWorker requests, for at most crashLoad; the server is
// killed crashKillAfter into it.
const (
	crashWorkers      = 8
	crashOpsPerWorker = 40
	crashLoad         = 6 * time.Second
	crashKillAfter    = 2 * time.Second
	crashFlow         = "sleeps"
	crashProject      = devstack.Project
)

// devProcess is a `kitaru dev` child process on a loopback port.
type devProcess struct {
	cmd  *exec.Cmd
	url  string
	key  string
	logs *bytes.Buffer
	done chan error
}

// startDevProcess runs `kitaru dev` on table and waits for its banner (the
// server serves, and its start-up reap pass has run, once it is printed).
func startDevProcess(t *testing.T, bin, endpoint, table string, env ...string) *devProcess {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--addr", "127.0.0.1:0", "--dynamodb-endpoint", endpoint, "--table", table)
	cmd.Env = append(os.Environ(), env...)
	p := &devProcess{cmd: cmd, logs: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.logs
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	found := make(chan map[string]string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			// "or export KITARU_SERVER_URL=… KITARU_AUTH_TOKEN=… KITARU_PROJECT=…" (scripts/e2e.sh reads it too)
			if rest, ok := strings.CutPrefix(sc.Text(), "or export "); ok {
				vars := map[string]string{}
				for _, pair := range strings.Fields(rest) {
					k, v, _ := strings.Cut(pair, "=")
					vars[k] = v
				}
				found <- vars
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	select {
	case vars := <-found:
		p.url, p.key = vars["KITARU_SERVER_URL"], vars["KITARU_AUTH_TOKEN"]
		if !strings.HasPrefix(p.url, "http://127.0.0.1:") {
			t.Fatalf("kitaru dev serves %q, want a loopback URL", p.url)
		}
	case err := <-p.done:
		p.done <- err
		t.Fatalf("kitaru dev exited (%v):\n%s", err, p.logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("kitaru dev printed no connection within 60 s:\n%s", p.logs)
	}
	return p
}

// crashClient sends requests to one dev process; transport errors (the
// server was killed) are reported as status 0.
type crashClient struct {
	url, key string
	http     *http.Client
}

func (c crashClient) do(method, path string, body any, out any) int {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		_ = json.Unmarshal(raw, out)
	}
	return resp.StatusCode
}

// crashLedger is what the server acknowledged before it died.
type crashLedger struct {
	mu       sync.Mutex
	deployed []int        // versions answered 201
	deleted  map[int]bool // versions answered 204
	// maybeDeleted are versions whose delete got no answer (the server died
	// or the client gave up): it may have committed.
	maybeDeleted map[int]bool
	invoked      []string       // exec ids answered 202
	statuses     map[string]int // "op status" → count
}

func (l *crashLedger) note(op string, status int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[fmt.Sprintf("%s %d", op, status)]++
}

// TestCrashMidLoadLeavesAConsistentTable starts a real `kitaru dev` on
// DynamoDB Local, drives concurrent deploys, tag moves, deletes and invokes
// of a sleeping flow, SIGKILLs the server mid-load, and checks the table
// with the store: versions unique and every acknowledged one present, every
// exclusive route on an existing version and equal to its newest history
// record, no tag on a deleted version; then a restarted dev with a short
// reaper deadline ends every execution the dead server left running as
// failed (Runner.Lost).
func TestCrashMidLoadLeavesAConsistentTable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kitaru and runs it twice")
	}
	endpoint := os.Getenv("DYNAMODB_ENDPOINT")
	if endpoint == "" {
		if os.Getenv("KITARU_REQUIRE_DYNAMODB_LOCAL") != "" {
			t.Fatal("KITARU_REQUIRE_DYNAMODB_LOCAL is set but DYNAMODB_ENDPOINT is not: start scripts/dynamodb-local.sh")
		}
		t.Skip("the crash test needs a DynamoDB that outlives the server: set DYNAMODB_ENDPOINT (scripts/dynamodb-local.sh)")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("no python3")
	}
	bin := filepath.Join(t.TempDir(), "kitaru")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kitaru")
	build.Dir = repoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kitaru: %v\n%s", err, out)
	}
	table := fmt.Sprintf("crash-%d", time.Now().UnixNano())
	ctx := context.Background()
	db, err := defaultconfig.NewClient(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: &table}) })

	first := startDevProcess(t, bin, endpoint, table)
	c := crashClient{url: first.url, key: first.key, http: &http.Client{Timeout: 10 * time.Second}}
	b, err := bundle.Build(filepath.Join(repoRoot(t), "testdata", "flows", "behaviours"))
	if err != nil {
		t.Fatal(err)
	}
	deploy := map[string]any{
		"entrypoint": "flows/behaviours.py:" + crashFlow, "inputs": map[string]any{"seconds": 2},
		"source": map[string]any{"archive": base64.StdEncoding.EncodeToString(b.Data)},
	}
	if status := c.do("POST", "/v1/flows/"+crashFlow+"/deployments", deploy, nil); status != http.StatusCreated {
		t.Fatalf("first deploy: status %d\n%s", status, first.logs)
	}
	ledger := &crashLedger{deployed: []int{1}, deleted: map[int]bool{}, maybeDeleted: map[int]bool{}, statuses: map[string]int{}}

	stop := time.Now().Add(crashLoad)
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 12))
			for range crashOpsPerWorker {
				if time.Now().After(stop) {
					return
				}
				latest := func() int {
					ledger.mu.Lock()
					defer ledger.mu.Unlock()
					return slices.Max(ledger.deployed)
				}()
				switch op := rng.IntN(10); {
				case op < 3:
					body := maps(deploy, map[string]any{"tag": []string{"default", "canary", "stable"}[rng.IntN(3)], "exclusive": true})
					var d registry.Deployment
					status := c.do("POST", "/v1/flows/"+crashFlow+"/deployments", body, &d)
					ledger.note("deploy", status)
					if status == http.StatusCreated {
						ledger.mu.Lock()
						ledger.deployed = append(ledger.deployed, d.Version)
						ledger.mu.Unlock()
					}
				case op < 5:
					tag := []string{"stable", "canary", "default"}[rng.IntN(3)]
					status := c.do("PUT", "/v1/flows/"+crashFlow+"/tags/"+tag, map[string]any{"version": 1 + rng.IntN(latest), "exclusive": true}, nil)
					ledger.note("tag", status)
				case op < 6:
					v := 1 + rng.IntN(latest)
					status := c.do("DELETE", fmt.Sprintf("/v1/flows/%s/deployments/%d", crashFlow, v), nil, nil)
					ledger.note("delete", status)
					ledger.mu.Lock()
					switch status {
					case http.StatusNoContent:
						ledger.deleted[v] = true
					case 0:
						ledger.maybeDeleted[v] = true
					}
					ledger.mu.Unlock()
				default:
					var e registry.Execution
					status := c.do("POST", "/v1/flows/"+crashFlow+"/invocations", map[string]any{"tag": "default"}, &e)
					ledger.note("invoke", status)
					if status == http.StatusAccepted {
						ledger.mu.Lock()
						ledger.invoked = append(ledger.invoked, e.ExecID)
						ledger.mu.Unlock()
					}
				}
			}
		}()
	}
	time.Sleep(crashKillAfter)
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-first.done
	first.done <- nil
	wg.Wait()
	t.Logf("acknowledged before the kill: %d deploys, %d deletes, %d invokes; answers %v",
		len(ledger.deployed), len(ledger.deleted), len(ledger.invoked), ledger.statuses)
	if len(ledger.invoked) == 0 {
		t.Fatal("no invocation was acknowledged before the kill; the test exercised nothing")
	}

	store := dynamo.New(db, table)
	running := runningExecutions(t, store)
	t.Logf("%d executions running after the kill", len(running))
	if len(running) == 0 {
		t.Fatal("no execution was running at the kill; the reaper check would prove nothing (make the flow sleep longer)")
	}
	checkRegistry(t, store, ledger)

	// The reaper counts from each execution's start: let the newest pass 1 s.
	time.Sleep(1500 * time.Millisecond)
	second := startDevProcess(t, bin, endpoint, table, devstack.ReapAfterEnv+"=1s")
	for _, id := range running {
		e, err := store.GetExecution(ctx, crashProject, id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != registry.StatusFailed || e.Error == nil || e.Error.Type != workflow.ErrorRunnerLost {
			t.Errorf("execution %s after the restart: %s %+v, want failed %s", id, e.Status, e.Error, workflow.ErrorRunnerLost)
		}
	}
	if left := runningExecutions(t, store); len(left) != 0 {
		t.Errorf("executions still running after the restart's reap: %v", left)
	}
	if idx, err := store.RunningStartedBefore(ctx, time.Now().Add(time.Hour), 1000); err != nil || len(idx) != 0 {
		t.Errorf("running index after the reap: %d entries (%v), want none", len(idx), err)
	}
	for _, id := range ledger.invoked {
		if _, err := store.GetExecution(ctx, crashProject, id); err != nil {
			t.Errorf("acknowledged execution %s: %v", id, err)
		}
	}
	checkRegistry(t, store, ledger)
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-second.done; err != nil {
		t.Errorf("restarted kitaru dev did not stop cleanly: %v\n%s", err, second.logs)
	}
	second.done <- nil
}

// maps returns a copy of base with extra's keys set.
func maps(base, extra map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// runningExecutions lists the crash flow's executions still running.
func runningExecutions(t *testing.T, s *dynamo.Store) []string {
	t.Helper()
	var ids []string
	page := registry.PageRequest{Limit: registry.MaxPageSize}
	for {
		p, err := s.ListExecutions(context.Background(), crashProject, crashFlow, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Items {
			if e.Status == registry.StatusRunning {
				ids = append(ids, e.ExecID)
			}
		}
		if p.NextToken == "" {
			return ids
		}
		page.Token = p.NextToken
	}
}

// checkRegistry checks the flow's versions and routes in the table.
func checkRegistry(t *testing.T, s *dynamo.Store, l *crashLedger) {
	t.Helper()
	ctx := context.Background()
	var versions []int
	page := registry.PageRequest{Limit: registry.MaxPageSize}
	for {
		p, err := s.ListDeployments(ctx, crashProject, crashFlow, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Items {
			versions = append(versions, d.Version)
		}
		if p.NextToken == "" {
			break
		}
		page.Token = p.NextToken
	}
	slices.Sort(versions)
	if len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Errorf("versions are not unique: %v", versions)
	}
	for _, v := range l.deployed {
		if !l.deleted[v] && !l.maybeDeleted[v] && !slices.Contains(versions, v) {
			t.Errorf("acknowledged version %d is missing (versions %v)", v, versions)
		}
	}
	for v := range l.deleted {
		if slices.Contains(versions, v) {
			t.Errorf("version %d was deleted (204) but is still listed", v)
		}
	}
	sum, err := s.GetFlow(ctx, crashProject, crashFlow)
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeploymentCount != len(versions) || (len(versions) > 0 && sum.LatestVersion != versions[len(versions)-1]) {
		t.Errorf("flow summary counts %d versions, latest %d; the table holds %v", sum.DeploymentCount, sum.LatestVersion, versions)
	}
	acked := slices.Sorted(slices.Values(l.deployed))
	if len(slices.Compact(slices.Clone(acked))) != len(acked) {
		t.Errorf("two deploys were answered with one version number: %v", acked)
	}
	for tag, holders := range sum.Tags {
		for _, v := range holders {
			if !slices.Contains(versions, v) {
				t.Errorf("tag %s is on version %d, which does not exist (versions %v)", tag, v, versions)
			}
		}
		if len(holders) == 0 {
			continue
		}
		d, err := s.GetDeployment(ctx, crashProject, crashFlow, holders[0])
		if err != nil {
			t.Errorf("tag %s holder %d: %v", tag, holders[0], err)
			continue
		}
		if !d.Tags[tag] {
			continue // shared
		}
		if len(holders) != 1 {
			t.Errorf("exclusive tag %s is on %v", tag, holders)
		}
		h, err := s.TagHistory(ctx, crashProject, crashFlow, tag, registry.PageRequest{Limit: 1})
		if err != nil || len(h.Items) == 0 || h.Items[0].To == nil || *h.Items[0].To != holders[0] {
			t.Errorf("exclusive tag %s is on %d but its newest history record is %+v (%v)", tag, holders[0], h.Items, err)
		}
	}
	if _, ok := sum.Tags["default"]; !ok || len(sum.Tags["default"]) != 1 {
		t.Errorf("default is on %v, want one version", sum.Tags["default"])
	}
}
