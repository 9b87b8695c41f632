// Package s3blob is the blob.Store on an S3 bucket: AWS, LocalStack, or
// kitaru dev's in-process S3-compatible server (package localblob). It is
// apart from package blob so that what needs only the interface (the
// artifact store, the service graph, every Lambda function) does not link
// the S3 client.
package s3blob

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/registry"
)

// Store is a blob.Store on one S3 bucket.
type Store struct {
	Client *s3.Client
	Bucket string
	// Now gives the time presigned URLs are signed at; nil is time.Now.
	Now func() time.Time
}

var _ blob.Store = (*Store)(nil)

// New is the Store on bucket with a client from cfg; endpoint, when set,
// replaces S3's (path-style: LocalStack, moto, kitaru dev's server).
func New(cfg aws.Config, bucket, endpoint string) (*Store, error) {
	if bucket == "" {
		return nil, fmt.Errorf("KITARU_BUCKET is not set; set it to the bucket for source bundles")
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint, o.UsePathStyle = aws.String(endpoint), true
		}
	})
	return &Store{Client: client, Bucket: bucket}, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (int64, bool, error) {
	out, err := s.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.Bucket, Key: &key})
	if isNotFound(err) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.fail("stat", key, err)
	}
	return aws.ToInt64(out.ContentLength), true, nil
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: body, ContentLength: &size})
	if err != nil {
		return s.fail("put", key, err)
	}
	return nil
}

// Get implements blob.Store.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.Bucket, Key: &key})
	if isNotFound(err) {
		return nil, registry.Errorf(registry.CodeNotFound, "object %q does not exist in bucket %q", key, s.Bucket).WithDetails("key", key)
	}
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	return out.Body, nil
}

// Delete implements blob.Store. S3 answers a missing key with success.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.Bucket, Key: &key})
	if err != nil && !isNotFound(err) {
		return s.fail("delete", key, err)
	}
	return nil
}

// PresignPut implements blob.Store. A positive size is signed: S3 refuses a body
// of another length. Size 0 leaves the length open (a result of unknown size).
func (s *Store) PresignPut(ctx context.Context, key string, size int64, ttl time.Duration) (blob.Presigned, error) {
	in := &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key}
	if size > 0 {
		in.ContentLength = &size
	}
	return s.presignPut(ctx, in, ttl)
}

// PresignPutSHA256 implements blob.Store: S3 checks the signed
// x-amz-checksum-sha256 against the body and answers 400 BadDigest on a
// mismatch, and the signed Content-Length refuses another length.
func (s *Store) PresignPutSHA256(ctx context.Context, key string, size int64, sum []byte, ttl time.Duration) (blob.Presigned, error) {
	if size <= 0 || len(sum) != sha256.Size {
		return blob.Presigned{}, registry.Errorf(registry.CodeInvalidArgument, "a checksummed upload needs a positive size and a 32-byte SHA-256")
	}
	checksum := base64.StdEncoding.EncodeToString(sum)
	return s.presignPut(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, ContentLength: &size, ChecksumSHA256: &checksum}, ttl)
}

func (s *Store) presignPut(ctx context.Context, in *s3.PutObjectInput, ttl time.Duration) (blob.Presigned, error) {
	key := aws.ToString(in.Key)
	if err := checkTTL(ttl); err != nil {
		return blob.Presigned{}, err
	}
	now := s.now()
	req, err := s3.NewPresignClient(s.Client).PresignPutObject(ctx, in, s3.WithPresignExpires(ttl), withSigningTime(now))
	if err != nil {
		return blob.Presigned{}, s.fail("presign put", key, err)
	}
	headers := map[string]string{}
	for name, values := range req.SignedHeader {
		// Host comes from the URL; every HTTP client sets it.
		if http.CanonicalHeaderKey(name) != "Host" && len(values) > 0 {
			headers[http.CanonicalHeaderKey(name)] = values[0]
		}
	}
	return blob.Presigned{URL: req.URL, Method: req.Method, Headers: headers, ExpiresAt: now.Add(ttl).UTC()}, nil
}

// PresignGet implements blob.Store.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkTTL(ttl); err != nil {
		return "", err
	}
	req, err := s3.NewPresignClient(s.Client).PresignGetObject(ctx,
		&s3.GetObjectInput{Bucket: &s.Bucket, Key: &key},
		s3.WithPresignExpires(ttl), withSigningTime(s.now()))
	if err != nil {
		return "", s.fail("presign get", key, err)
	}
	return req.URL, nil
}

// now is the signing time; SigV4 dates have whole seconds.
func (s *Store) now() time.Time {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	return now().UTC().Truncate(time.Second)
}

// withSigningTime signs at now, so ExpiresAt and the URL agree.
func withSigningTime(now time.Time) func(*s3.PresignOptions) {
	return func(o *s3.PresignOptions) { o.Presigner = presignerAt{o.Presigner, now} }
}

// presignerAt presigns with a fixed signing time.
type presignerAt struct {
	s3.HTTPPresignerV4
	at time.Time
}

func (p presignerAt) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.HTTPPresignerV4.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.at, optFns...)
}

// fail wraps an S3 error: throttling and 5xx are unavailable (retry), the
// rest internal. The bucket and key are in the message, never credentials.
func (s *Store) fail(op, key string, err error) error {
	code := registry.CodeInternal
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && (re.HTTPStatusCode() >= 500 || re.HTTPStatusCode() == http.StatusTooManyRequests) {
		code = registry.CodeUnavailable
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
		return fmt.Errorf("%s s3://%s/%s: bucket %q does not exist; create it or fix the bucket setting: %w", op, s.Bucket, key, s.Bucket,
			&registry.Error{Code: registry.CodeInternal, Message: "the blob bucket is missing"})
	}
	return fmt.Errorf("%s s3://%s/%s: %v: %w", op, s.Bucket, key, err,
		&registry.Error{Code: code, Message: "the blob store failed; retry"})
}

func isNotFound(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "NotFound", "NoSuchKey":
		return true
	}
	return false
}

func checkTTL(ttl time.Duration) error {
	if ttl <= 0 || ttl > blob.MaxPresignTTL {
		return registry.Errorf(registry.CodeInvalidArgument, "presigned URL lifetime %v is invalid: use more than 0 and at most 7 days", ttl)
	}
	return nil
}
