package blob

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// LocalBucket is the bucket StartLocal creates.
const LocalBucket = "kitaru-dev"

// LocalServer is an in-process S3-compatible server on a loopback port.
type LocalServer struct {
	URL    string // endpoint, e.g. http://127.0.0.1:41234
	Bucket string // created on start
	srv    *http.Server
	done   chan error
}

// StartLocal serves the S3 API (gofakes3) on 127.0.0.1 and creates
// LocalBucket. Objects live in memory when dir is empty, else in files
// under dir, which survive restarts.
func StartLocal(dir string) (*LocalServer, error) {
	var backend gofakes3.Backend = s3mem.New()
	if dir != "" {
		fs, err := s3afero.FsPath(dir, s3afero.FsPathCreateAll)
		if err != nil {
			return nil, fmt.Errorf("local blob store in %s: %w", dir, err)
		}
		if backend, err = s3afero.MultiBucket(fs); err != nil {
			return nil, fmt.Errorf("local blob store in %s: %w", dir, err)
		}
	}
	exists, err := backend.BucketExists(LocalBucket)
	if err == nil && !exists {
		err = backend.CreateBucket(LocalBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("local blob store: create bucket %s: %w", LocalBucket, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local blob store: listen: %w", err)
	}
	s := &LocalServer{
		URL:    "http://" + ln.Addr().String(),
		Bucket: LocalBucket,
		srv:    &http.Server{Handler: gofakes3.New(backend).Server(), ReadHeaderTimeout: 10 * time.Second},
		done:   make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server; objects in memory are gone.
func (s *LocalServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// NewS3Client returns an S3 client for a local S3-compatible endpoint
// (StartLocal, LocalStack): static credentials, region us-east-1, path-style
// addressing since bucket subdomains of 127.0.0.1 do not resolve. It reads
// no AWS configuration from the environment.
func NewS3Client(_ context.Context, endpoint string) (*s3.Client, error) {
	if endpoint == "" {
		return nil, errors.New("local S3 endpoint is empty")
	}
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("kitaru", "kitaru-local-secret", ""),
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	}), nil
}
