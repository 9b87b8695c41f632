package invoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// localBlobs is kitaru dev's in-process S3, the real engine behind the
// presigned URLs.
func localBlobs(t *testing.T) blob.Store {
	t.Helper()
	srv, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Store()
}

// getRunObject GETs a run object through its presigned URL, as the runner does.
func getRunObject(t *testing.T, ref *workflow.URLRef) (workflow.RunObject, int) {
	t.Helper()
	if ref == nil {
		t.Fatal("the run request has no run object")
	}
	resp, err := http.Get(ref.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var obj workflow.RunObject
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatalf("the run object is not JSON: %v", err)
		}
	}
	return obj, resp.StatusCode
}

func TestTheRunRequestReferencesOneRunObjectHoldingTheLogsUploadURLs(t *testing.T) {
	exec := &recordingExecutor{}
	svc, store := newService(t, exec)
	svc.RunObjects = &artifacts.Store{Blobs: localBlobs(t)}
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	e, _, err := svc.Invoke(context.Background(), invoke.Request{Project: "p", Flow: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	req := exec.started[0]
	encoded, _ := json.Marshal(req)
	if strings.Contains(string(encoded), artifacts.LogsPrefix) || strings.Contains(string(encoded), "log_upload") {
		t.Errorf("the state machine input carries log upload URLs: %s", encoded)
	}
	if req.Run == nil || !strings.Contains(req.Run.URL, "/"+artifacts.RunObjectKey("p", e.ExecID)+"?") {
		t.Fatalf("run = %+v; want a presigned GET of %s", req.Run, artifacts.RunObjectKey("p", e.ExecID))
	}
	u, err := url.Parse(req.Run.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.Query().Get("X-Amz-Expires"), fmt.Sprint(int(invoke.RunObjectTTL.Seconds())); got != want {
		t.Errorf("the run object's GET expires after %s s; want %s (invoke.RunObjectTTL)", got, want)
	}
	obj, status := getRunObject(t, req.Run)
	up := obj.LogUpload
	if status != http.StatusOK || up == nil || len(up.URLs) != artifacts.LogChunks || up.ChunkBytes != artifacts.LogChunkBytes || up.MaxBytes != artifacts.LogMaxBytes {
		t.Fatalf("GET the run object = %d, log_upload %+v", status, up)
	}
	for i, u := range up.URLs {
		if want := artifacts.LogKey("p", e.ExecID, i); !strings.Contains(u, "/"+want+"?") {
			t.Errorf("url %d = %s, want one for %s", i, u, want)
		}
	}
	if len(obj.Secrets) != 0 {
		t.Errorf("a run without secrets has secrets %v in its run object", obj.Secrets)
	}
}

func TestWithoutRunObjectsTheRunRequestReferencesNone(t *testing.T) {
	exec := &recordingExecutor{}
	svc, store := newService(t, exec)
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	if _, _, err := svc.Invoke(context.Background(), invoke.Request{Project: "p", Flow: "ok"}); err != nil {
		t.Fatal(err)
	}
	if exec.started[0].Run != nil {
		t.Errorf("run = %+v, want none", exec.started[0].Run)
	}
}

func TestTheRunObjectIsDeletedWhenNothingWillReadIt(t *testing.T) {
	ctx := context.Background()
	src := &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)}
	t.Run("a cancel deletes it, as the stopped state machine records nothing", func(t *testing.T) {
		exec := &recordingExecutor{}
		svc, store := newService(t, exec)
		blobs := localBlobs(t)
		svc.RunObjects = &artifacts.Store{Blobs: blobs}
		deployFlow(t, store, "ok", "dev", src)
		e, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "ok"})
		if err != nil {
			t.Fatal(err)
		}
		if _, exists, _ := blobs.Stat(ctx, artifacts.RunObjectKey("p", e.ExecID)); !exists {
			t.Fatal("the running execution has no run object")
		}
		if _, err := svc.Cancel(ctx, "p", e.ExecID); err != nil {
			t.Fatal(err)
		}
		if _, status := getRunObject(t, exec.started[0].Run); status == http.StatusOK {
			t.Errorf("GET the run object after the cancel = %d; want it gone", status)
		}
	})
	t.Run("a failed start deletes it along with recording the failure", func(t *testing.T) {
		svc, store := newService(t, failingExecutor{})
		blobs := localBlobs(t)
		svc.RunObjects = &artifacts.Store{Blobs: blobs}
		deployFlow(t, store, "ok", "dev", src)
		_, _, err := svc.Invoke(ctx, invoke.Request{Project: "p", Flow: "ok"})
		if registry.CodeOf(err) != registry.CodeUnavailable {
			t.Fatalf("Invoke = %v; want unavailable", err)
		}
		page, err := store.ListExecutions(ctx, "p", "ok", registry.PageRequest{})
		if err != nil || len(page.Items) != 1 {
			t.Fatalf("executions %+v, %v", page.Items, err)
		}
		if _, exists, _ := blobs.Stat(ctx, artifacts.RunObjectKey("p", page.Items[0].ExecID)); exists {
			t.Error("the run object of a start that failed is still stored")
		}
	})
}
