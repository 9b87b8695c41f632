package artifacts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kitaru/deployments/pkg/workflow"
)

// RunObjectPrefix starts the keys of runs' run objects (the hand-off the
// runner reads once at start: its log upload URLs and, on AWS, its flow
// secrets). The name predates the log URLs in it and is kept so that the
// bucket's lifecycle rule keeps expiring what older builds wrote.
const RunObjectPrefix = "run-secrets/"

// RunObjectKey is where an execution's run object is stored.
func RunObjectKey(project, execID string) string {
	return RunObjectPrefix + project + "/" + execID + ".json"
}

// PutRunObject stores an execution's run object and returns a presigned
// GET of it valid for ttl (invoke.RunObjects). The run request carries only
// that URL, so the state machine input holds neither a secret nor the log's
// upload URLs.
func (s *Store) PutRunObject(ctx context.Context, project, execID string, obj workflow.RunObject, ttl time.Duration) (workflow.URLRef, error) {
	body, err := json.Marshal(obj)
	if err != nil {
		return workflow.URLRef{}, fmt.Errorf("encode the run object of %s: %w", execID, err)
	}
	key := RunObjectKey(project, execID)
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return workflow.URLRef{}, fmt.Errorf("store the run object of %s: %w", execID, err)
	}
	url, err := s.Blobs.PresignGet(ctx, key, ttl)
	if err != nil {
		return workflow.URLRef{}, fmt.Errorf("presign the run object of %s: %w", execID, err)
	}
	return workflow.URLRef{URL: url}, nil
}

// DeleteRunObject removes an execution's run object once nothing will read
// it (its run ended, was cancelled or never started); one already gone is
// not an error (workflow.RunObjectRemover).
func (s *Store) DeleteRunObject(ctx context.Context, project, execID string) error {
	if err := s.Blobs.Delete(ctx, RunObjectKey(project, execID)); err != nil {
		return fmt.Errorf("delete the run object of %s: %w", execID, err)
	}
	return nil
}
