package invoke_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/registry"
)

func TestTheRunRequestCarriesOneLogURLPerChunkOfThisExecution(t *testing.T) {
	srv, err := localblob.Start("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	exec := &recordingExecutor{}
	svc, store := newService(t, exec)
	svc.Logs = &artifacts.Store{Blobs: srv.Store()}
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	e, _, err := svc.Invoke(context.Background(), invoke.Request{Project: "p", Flow: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	up := exec.started[0].LogUpload
	if up == nil || len(up.URLs) != artifacts.LogChunks || up.ChunkBytes != artifacts.LogChunkBytes || up.MaxBytes != artifacts.LogMaxBytes {
		t.Fatalf("log_upload = %+v", up)
	}
	for i, u := range up.URLs {
		if want := artifacts.LogKey("p", e.ExecID, i); !strings.Contains(u, "/"+want+"?") {
			t.Errorf("url %d = %s, want one for %s", i, u, want)
		}
	}
}

func TestWithoutLogsTheRunRequestHasNoLogUpload(t *testing.T) {
	exec := &recordingExecutor{}
	svc, store := newService(t, exec)
	deployFlow(t, store, "ok", "dev", &registry.Source{Digest: fmt.Sprintf("sha256:%064d", 0)})
	if _, _, err := svc.Invoke(context.Background(), invoke.Request{Project: "p", Flow: "ok"}); err != nil {
		t.Fatal(err)
	}
	if exec.started[0].LogUpload != nil {
		t.Errorf("log_upload = %+v, want none", exec.started[0].LogUpload)
	}
}
