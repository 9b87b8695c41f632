// Package artifacts keeps content-addressed source bundles and execution
// results in a blob store: it validates bundles before they are recorded and
// hands out the presigned URLs clients and the runner use.
package artifacts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// UploadTTL is how long a presigned bundle upload stays valid.
const UploadTTL = 15 * time.Minute

// Store implements httpapi.Artifacts and invoke.Objects on a blob store.
type Store struct {
	Blobs  blob.Store
	Limits bundle.Limits
}

var _ httpapi.Artifacts = (*Store)(nil)

// Check answers POST /v1/artifacts: stored already, or where to PUT it.
func (s *Store) Check(ctx context.Context, digest string, size int64) (httpapi.ArtifactStatus, error) {
	key, err := bundle.KeyFor(digest)
	if err != nil {
		return httpapi.ArtifactStatus{}, err
	}
	if limit := s.limits().Compressed; size > limit {
		return httpapi.ArtifactStatus{}, registry.Errorf(registry.CodePayloadTooLarge, "bundle is %d bytes; the limit is %d MiB: leave large data out of the project tree", size, limit>>20).
			WithDetails("limit_bytes", limit)
	}
	_, exists, err := s.Blobs.Stat(ctx, key)
	if err != nil {
		return httpapi.ArtifactStatus{}, fmt.Errorf("check bundle %s: %w", digest, err)
	}
	st := httpapi.ArtifactStatus{Digest: digest, Exists: exists}
	if !exists {
		p, err := s.Blobs.PresignPut(ctx, key, size, UploadTTL)
		if err != nil {
			return httpapi.ArtifactStatus{}, fmt.Errorf("presign bundle upload: %w", err)
		}
		st.Upload = &httpapi.Upload{URL: p.URL, Method: p.Method, Headers: p.Headers, ExpiresAt: p.ExpiresAt}
	}
	return st, nil
}

// SaveArchive validates an inline archive and stores it once by digest.
func (s *Store) SaveArchive(ctx context.Context, archive []byte, entrypointFile string) (registry.Source, error) {
	info, err := bundle.Validate(bytes.NewReader(archive), s.limits(), entrypointFile)
	if err != nil {
		return registry.Source{}, err
	}
	key, err := bundle.KeyFor(info.Digest)
	if err != nil {
		return registry.Source{}, err
	}
	if _, exists, err := s.Blobs.Stat(ctx, key); err != nil {
		return registry.Source{}, fmt.Errorf("check bundle %s: %w", info.Digest, err)
	} else if !exists {
		if err := s.Blobs.Put(ctx, key, bytes.NewReader(archive), int64(len(archive))); err != nil {
			return registry.Source{}, fmt.Errorf("store bundle %s: %w", info.Digest, err)
		}
	}
	return registry.Source{Digest: info.Digest, Size: info.Size}, nil
}

// VerifyDigest checks an uploaded bundle: present, intact, and holding the entrypoint.
func (s *Store) VerifyDigest(ctx context.Context, digest, entrypointFile string) (registry.Source, error) {
	key, err := bundle.KeyFor(digest)
	if err != nil {
		return registry.Source{}, err
	}
	r, err := s.Blobs.Get(ctx, key)
	if registry.CodeOf(err) == registry.CodeNotFound {
		return registry.Source{}, registry.Errorf(registry.CodeNotFound, "bundle %s is not uploaded; POST /v1/artifacts and PUT it to the returned URL first (kitaru deploy does this)", digest).
			WithDetails("digest", digest)
	}
	if err != nil {
		return registry.Source{}, fmt.Errorf("read bundle %s: %w", digest, err)
	}
	defer r.Close()
	info, err := bundle.Validate(r, s.limits(), entrypointFile)
	if err != nil {
		return registry.Source{}, err
	}
	if info.Digest != digest {
		return registry.Source{}, registry.Errorf(registry.CodeUnprocessable, "the bytes uploaded for %s have digest %s; upload the bundle again", digest, info.Digest)
	}
	_, _ = io.Copy(io.Discard, r)
	return registry.Source{Digest: info.Digest, Size: info.Size}, nil
}

// BundleURL returns a presigned GET of a stored bundle.
func (s *Store) BundleURL(ctx context.Context, digest string, ttl time.Duration) (string, error) {
	key, err := bundle.KeyFor(digest)
	if err != nil {
		return "", err
	}
	return s.Blobs.PresignGet(ctx, key, ttl)
}

// ResultUpload returns a presigned PUT for an execution's large result.
func (s *Store) ResultUpload(ctx context.Context, project, execID string, ttl time.Duration) (workflow.URLRef, error) {
	key := ResultKey(project, execID)
	p, err := s.Blobs.PresignPut(ctx, key, 0, ttl)
	if err != nil {
		return workflow.URLRef{}, err
	}
	return workflow.URLRef{URL: p.URL, Ref: key}, nil
}

// ResultKey is where an execution's large result is stored.
func ResultKey(project, execID string) string { return "results/" + project + "/" + execID + ".json" }

func (s *Store) limits() bundle.Limits {
	if s.Limits.Compressed == 0 {
		return bundle.DefaultLimits
	}
	return s.Limits
}
