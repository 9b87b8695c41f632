package artifacts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kitaru/deployments/pkg/workflow"
)

// RunSecretsPrefix starts the keys of runs' secret hand-offs; the bucket
// expires them (infra/stack.go), and each presigned GET ends with its run.
const RunSecretsPrefix = "run-secrets/"

// RunSecretsKey is where an execution's secrets are handed to its runner.
func RunSecretsKey(project, execID string) string {
	return RunSecretsPrefix + project + "/" + execID + ".json"
}

// HandOff stores an execution's secret values for its runner and returns a
// presigned GET of them valid for ttl (invoke.SecretHandoff). The state
// machine input carries that URL, never a value.
func (s *Store) HandOff(ctx context.Context, project, execID string, values map[string]string, ttl time.Duration) (workflow.URLRef, error) {
	body, err := json.Marshal(values)
	if err != nil {
		return workflow.URLRef{}, fmt.Errorf("encode run secrets: %w", err)
	}
	key := RunSecretsKey(project, execID)
	if err := s.Blobs.Put(ctx, key, bytes.NewReader(body), int64(len(body))); err != nil {
		return workflow.URLRef{}, fmt.Errorf("store run secrets: %w", err)
	}
	url, err := s.Blobs.PresignGet(ctx, key, ttl)
	if err != nil {
		return workflow.URLRef{}, fmt.Errorf("presign run secrets: %w", err)
	}
	return workflow.URLRef{URL: url}, nil
}
