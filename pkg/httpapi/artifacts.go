package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/kitaru/deployments/pkg/api"
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

// saveSource validates and stores the deploy's source bundle.
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
		src, err = h.cfg.Artifacts.SaveArchive(ctx, project, data, file)
	case s.Digest != "":
		src, err = h.cfg.Artifacts.VerifyDigest(ctx, project, s.Digest, file)
	default:
		return nil, registry.Errorf(registry.CodeInvalidArgument, "source needs digest (after POST /v1/artifacts) or archive (base64 tar.gz)")
	}
	if err != nil {
		return nil, err
	}
	src.Commit, src.Dirty = s.Commit, s.Dirty
	return &src, nil
}
