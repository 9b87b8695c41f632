package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
)

func (h *Handler) createArtifact(ctx context.Context, c *call) (reply, error) {
	var b api.ArtifactRequest
	if err := decodeRequest(c, &b, false); err != nil {
		return reply{}, err
	}
	if b.Size <= 0 {
		return reply{}, registry.Errorf(registry.CodeInvalidArgument, "size must be the bundle's size in bytes, at least 1")
	}
	digest := b.SHA256
	if !strings.HasPrefix(digest, "sha256:") {
		digest = "sha256:" + digest
	}
	st, err := h.cfg.Artifacts.Check(ctx, c.principal.Project, digest, b.Size)
	if err != nil {
		return reply{}, fmt.Errorf("check artifact: %w", err)
	}
	return reply{status: http.StatusOK, body: st}, nil
}

// maxInlineArchive bounds a base64 archive in a deploy body (decoded).
const maxInlineArchive = 4 << 20

// saveSource validates and stores the deploy's source bundle, holding a
// lease on it (leaseBundle) that the caller releases (releaseBundle).
func (h *Handler) saveSource(ctx context.Context, project string, s *api.Source, entrypoint string) (*registry.Source, error) {
	if s == nil {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "source is missing; send the project's bundle as source.archive (base64), or upload it through POST /v1/artifacts and send its source.digest")
	}
	file, _, err := registry.ParseEntrypoint(entrypoint)
	if err != nil {
		return nil, err
	}
	if len(s.Commit) > 64 {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "source.commit is longer than 64 characters; send the git commit hash")
	}
	var src registry.Source
	switch {
	case s.Digest != "" && s.Archive != "":
		return nil, registry.Errorf(registry.CodeInvalidArgument, "send either source.digest or source.archive, not both")
	case s.Archive != "":
		if base64.StdEncoding.DecodedLen(len(s.Archive)) > maxInlineArchive+3 {
			return nil, registry.Errorf(registry.CodePayloadTooLarge, "source.archive is over %d MiB; upload it through POST /v1/artifacts and deploy with source.digest", maxInlineArchive>>20)
		}
		data, derr := base64.StdEncoding.DecodeString(s.Archive)
		if derr != nil {
			return nil, registry.Errorf(registry.CodeInvalidArgument, "source.archive is not valid base64")
		}
		if len(data) > maxInlineArchive {
			return nil, registry.Errorf(registry.CodePayloadTooLarge, "source.archive is over %d MiB; upload it through POST /v1/artifacts and deploy with source.digest", maxInlineArchive>>20)
		}
		sum := sha256.Sum256(data) // the digest SaveArchive stores it under
		digest := bundle.DigestPrefix + hex.EncodeToString(sum[:])
		if err := h.leaseBundle(ctx, project, digest); err != nil {
			return nil, err
		}
		if src, err = h.cfg.Artifacts.SaveArchive(ctx, project, data, file); err != nil {
			h.releaseBundle(ctx, project, &registry.Source{Digest: digest})
			return nil, err
		}
	case s.Digest != "":
		if err := bundle.ValidateDigest(s.Digest); err != nil {
			return nil, err
		}
		if err := h.leaseBundle(ctx, project, s.Digest); err != nil {
			return nil, err
		}
		if src, err = h.cfg.Artifacts.VerifyDigest(ctx, project, s.Digest, file); err != nil {
			h.releaseBundle(ctx, project, &registry.Source{Digest: s.Digest})
			return nil, err
		}
	default:
		return nil, registry.Errorf(registry.CodeInvalidArgument, "source needs digest (after POST /v1/artifacts) or archive (base64 tar.gz)")
	}
	src.Commit, src.Dirty = s.Commit, s.Dirty
	return &src, nil
}

// leaseBundle marks the deploy's bundle in use until the request's deadline
// (plus registry.SinceSkew), before the bundle is checked to be stored: a
// prune collecting it then either saw the lease and kept it, or started
// first and the lease is refused (docs/prune.md). The deploy releases it
// (releaseBundle) once its version is committed or refused. Stores without
// a guard (none today) lease nothing.
func (h *Handler) leaseBundle(ctx context.Context, project, digest string) error {
	if h.cfg.BundleGuard == nil {
		return nil
	}
	until := h.cfg.Now().Add(h.cfg.RequestTimeout)
	if dl, ok := ctx.Deadline(); ok {
		until = dl
	}
	if err := h.cfg.BundleGuard.LeaseBundle(ctx, project, digest, until.Add(registry.SinceSkew)); err != nil {
		return fmt.Errorf("lease bundle %s: %w", digest, err)
	}
	return nil
}

// releaseBundle ends the deploy's lease of its bundle, also when the
// request was cancelled; a release that fails leaves the lease to end at
// its deadline, so it is only logged.
func (h *Handler) releaseBundle(ctx context.Context, project string, src *registry.Source) {
	if h.cfg.BundleGuard == nil || src == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := h.cfg.BundleGuard.ReleaseBundle(rctx, project, src.Digest); err != nil {
		h.cfg.Logger.WarnContext(ctx, "release bundle lease", "digest", src.Digest, "error", err.Error())
	}
}
