// Package blob stores source bundles and large results in S3: AWS,
// LocalStack, or under kitaru dev an in-process S3-compatible server
// (gofakes3, package localblob). It holds the Store interface; one
// implementation on the S3 API (package s3blob) serves all three.
package blob

import (
	"context"
	"io"
	"time"
)

// Store keeps objects by key and hands out presigned URLs, so that the
// runner and the CLI move bytes without credentials or an SDK.
type Store interface {
	// Stat reports whether key exists and its size. A missing key is
	// exists=false with a nil error. Errors: internal, unavailable.
	Stat(ctx context.Context, key string) (size int64, exists bool, err error)
	// Put stores size bytes from body at key, replacing what was there.
	// Errors: internal, unavailable.
	Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error
	// Get opens the object at key; the caller closes it.
	// Errors: not_found, internal, unavailable.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object at key; a missing key is not an error.
	// Errors: internal, unavailable.
	Delete(ctx context.Context, key string) error
	// PresignPut returns a URL that accepts one PUT of exactly size bytes
	// (any size when size is 0) to key until ttl passes.
	// Errors: invalid_argument (ttl), internal.
	PresignPut(ctx context.Context, key string, size int64, ttl time.Duration) (Presigned, error)
	// PresignPutSHA256 returns a URL that accepts one PUT of exactly size
	// bytes whose SHA-256 is sum, until ttl passes: the length and the
	// checksum header (x-amz-checksum-sha256) are signed, so the client
	// must send Presigned.Headers as given, and S3 refuses other bytes.
	// Stores that do not check checksums (gofakes3 under kitaru dev) accept
	// any bytes, so readers must still verify what they read.
	// Errors: invalid_argument (ttl, size, sum), internal.
	PresignPutSHA256(ctx context.Context, key string, size int64, sum []byte, ttl time.Duration) (Presigned, error)
	// PresignGet returns a URL that GETs key until ttl passes.
	// Errors: invalid_argument (ttl), internal.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Presigned is a request anyone holding it may send, until ExpiresAt. The
// API answers it as the api.Upload of POST /v1/artifacts (pkg/artifacts
// converts it), so it carries no JSON form of its own.
type Presigned struct {
	URL    string
	Method string
	// Headers must be sent as given: they are part of the signature.
	Headers   map[string]string
	ExpiresAt time.Time
}

// MaxPresignTTL is the longest validity SigV4 allows a presigned URL.
const MaxPresignTTL = 7 * 24 * time.Hour
