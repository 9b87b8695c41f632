// Package artifacts keeps content-addressed source bundles and execution
// results in a blob store: it validates bundles before they are recorded and
// hands out the presigned URLs clients and the runner use.
package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// UploadTTL is how long a presigned bundle upload stays valid.
const UploadTTL = 15 * time.Minute

// Store implements httpapi.Artifacts (artifacts_test.go checks it) and
// invoke.Objects on a blob store.
type Store struct {
	Blobs  blob.Store
	Limits bundle.Limits
}

// Check answers POST /v1/artifacts for a project: stored already, or where
// to PUT it. Another project's bundle of the same digest is not seen: the
// answer is an upload into this project's namespace. The upload URL is
// signed for exactly size bytes hashing to digest, so S3 refuses other
// bytes; a stored object of another size (a broken or poisoned upload) is
// not reported as stored, and the upload replaces it.
func (s *Store) Check(ctx context.Context, project, digest string, size int64) (api.ArtifactStatus, error) {
	key, err := bundle.KeyFor(project, digest)
	if err != nil {
		return api.ArtifactStatus{}, err
	}
	if limit := s.limits().Compressed; size > limit {
		return api.ArtifactStatus{}, registry.Errorf(registry.CodePayloadTooLarge, "bundle is %d bytes; the limit is %d MiB: leave large data out of the project tree", size, limit>>20).
			WithDetails("limit_bytes", limit)
	}
	stored, exists, err := s.Blobs.Stat(ctx, key)
	if err != nil {
		return api.ArtifactStatus{}, fmt.Errorf("check bundle %s: %w", digest, err)
	}
	st := api.ArtifactStatus{Digest: digest, Exists: exists && stored == size}
	if !st.Exists {
		sum, _ := hex.DecodeString(strings.TrimPrefix(digest, bundle.DigestPrefix)) // KeyFor checked the syntax
		p, err := s.Blobs.PresignPutSHA256(ctx, key, size, sum, UploadTTL)
		if err != nil {
			return api.ArtifactStatus{}, fmt.Errorf("presign bundle upload: %w", err)
		}
		st.Upload = &api.Upload{URL: p.URL, Method: p.Method, Headers: p.Headers, ExpiresAt: p.ExpiresAt}
	}
	return st, nil
}

// SaveArchive validates an inline archive and stores it in the project by
// digest. An object already at that key is kept only if its bytes hash to
// the digest; anything else there is replaced.
func (s *Store) SaveArchive(ctx context.Context, project string, archive []byte, entrypointFile string) (registry.Source, error) {
	info, err := bundle.Validate(readerWithContext{ctx, bytes.NewReader(archive)}, s.limits(), entrypointFile)
	if ctx.Err() != nil {
		return registry.Source{}, fmt.Errorf("validate bundle: %w", ctx.Err())
	}
	if err != nil {
		return registry.Source{}, err
	}
	key, err := bundle.KeyFor(project, info.Digest)
	if err != nil {
		return registry.Source{}, err
	}
	intact, err := s.holds(ctx, key, info.Digest, info.Size)
	if err != nil {
		return registry.Source{}, err
	}
	if !intact {
		if err := s.Blobs.Put(ctx, key, bytes.NewReader(archive), int64(len(archive))); err != nil {
			return registry.Source{}, fmt.Errorf("store bundle %s: %w", info.Digest, err)
		}
	}
	return registry.Source{Digest: info.Digest, Size: info.Size}, nil
}

// holds reports whether key holds exactly size bytes hashing to digest.
func (s *Store) holds(ctx context.Context, key, digest string, size int64) (bool, error) {
	stored, exists, err := s.Blobs.Stat(ctx, key)
	if err != nil {
		return false, fmt.Errorf("check bundle %s: %w", digest, err)
	}
	if !exists || stored != size {
		return false, nil
	}
	r, err := s.Blobs.Get(ctx, key)
	if registry.CodeOf(err) == registry.CodeNotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read bundle %s: %w", digest, err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, size+1))
	if err != nil {
		return false, fmt.Errorf("read bundle %s: %w", digest, err)
	}
	return n == size && bundle.DigestPrefix+hex.EncodeToString(h.Sum(nil)) == digest, nil
}

// VerifyDigest checks a bundle uploaded to the project: present, its bytes
// hashing to digest (whatever the store enforced at upload), safe, and
// holding the entrypoint. Another project's bundle is not found.
func (s *Store) VerifyDigest(ctx context.Context, project, digest, entrypointFile string) (registry.Source, error) {
	key, err := bundle.KeyFor(project, digest)
	if err != nil {
		return registry.Source{}, err
	}
	r, err := s.Blobs.Get(ctx, key)
	if registry.CodeOf(err) == registry.CodeNotFound {
		return registry.Source{}, registry.Errorf(registry.CodeNotFound, "bundle %s is not uploaded to this project; POST /v1/artifacts and PUT it to the returned URL first (kitaru deploy does this)", digest).
			WithDetails("digest", digest)
	}
	if err != nil {
		return registry.Source{}, fmt.Errorf("read bundle %s: %w", digest, err)
	}
	defer r.Close()
	// The stored bytes are hashed as they are validated, so bytes that are
	// not the bundle are named as such, whatever else is wrong with them.
	h := sha256.New()
	tee := io.TeeReader(readerWithContext{ctx, io.LimitReader(r, s.limits().Compressed+1)}, h)
	info, verr := bundle.Validate(tee, s.limits(), entrypointFile)
	if ctx.Err() != nil {
		return registry.Source{}, fmt.Errorf("validate bundle %s: %w", digest, ctx.Err())
	}
	if verr != nil {
		if _, err := io.Copy(io.Discard, tee); err != nil {
			return registry.Source{}, fmt.Errorf("read bundle %s: %w", digest, err)
		}
	}
	if got := bundle.DigestPrefix + hex.EncodeToString(h.Sum(nil)); got != digest {
		return registry.Source{}, registry.Errorf(registry.CodeUnprocessable, "the bytes uploaded for %s have digest %s; upload the bundle again (kitaru deploy does this)", digest, got).
			WithDetails("digest", digest)
	}
	if verr != nil {
		return registry.Source{}, verr
	}
	return registry.Source{Digest: info.Digest, Size: info.Size}, nil
}

// ReadBundle reads a project's stored bundle through bundle.Read, calling
// visit with each file and link, and checks that the bytes hash to digest:
// what visit gathered is to be trusted only when it returns nil. Another
// project's bundle is not found. Errors: not_found, unprocessable (the
// stored bytes are not the bundle), those of bundle.Read and visit.
func (s *Store) ReadBundle(ctx context.Context, project, digest string, visit func(bundle.Entry) error) error {
	key, err := bundle.KeyFor(project, digest)
	if err != nil {
		return err
	}
	r, err := s.Blobs.Get(ctx, key)
	if registry.CodeOf(err) == registry.CodeNotFound {
		return registry.Errorf(registry.CodeNotFound, "bundle %s is not stored in this project", digest).WithDetails("digest", digest)
	}
	if err != nil {
		return fmt.Errorf("read bundle %s: %w", digest, err)
	}
	defer r.Close()
	info, err := bundle.Read(readerWithContext{ctx, io.LimitReader(r, s.limits().Compressed+1)}, s.limits(), visit)
	if ctx.Err() != nil {
		return fmt.Errorf("read bundle %s: %w", digest, ctx.Err())
	}
	if err != nil {
		return err
	}
	if info.Digest != digest {
		return registry.Errorf(registry.CodeUnprocessable, "the bytes stored for %s have digest %s; deploy the version's source again", digest, info.Digest).
			WithDetails("digest", digest)
	}
	return nil
}

// DeleteBundle removes a project's stored bundle; one already gone is no
// error. The caller decides that nothing uses it (pkg/prune).
func (s *Store) DeleteBundle(ctx context.Context, project, digest string) error {
	key, err := bundle.KeyFor(project, digest)
	if err != nil {
		return err
	}
	if err := s.Blobs.Delete(ctx, key); err != nil {
		return fmt.Errorf("delete bundle %s: %w", digest, err)
	}
	return nil
}

// BundleURL returns a presigned GET of a project's stored bundle.
func (s *Store) BundleURL(ctx context.Context, project, digest string, ttl time.Duration) (string, error) {
	key, err := bundle.KeyFor(project, digest)
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

// readerWithContext stops reading once ctx ends, so validation stops when
// the request's deadline passes or its client goes away.
type readerWithContext struct {
	ctx context.Context
	r   io.Reader
}

func (r readerWithContext) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (s *Store) limits() bundle.Limits { return s.Limits.WithDefaults() }
