// Package localblob serves the S3 API in process (gofakes3) for kitaru dev
// and tests. It lives apart from pkg/blob so that the Lambda functions, which
// use s3blob.Store on AWS, do not link the fake server and its file systems.
package localblob

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/kitaru/deployments/pkg/blob/s3blob"
	"github.com/kitaru/deployments/pkg/sdkbody"
)

// Bucket is the bucket Start creates.
const Bucket = "kitaru-dev"

// Server is an in-process S3-compatible server on a loopback port. It serves
// only requests signed with its credentials, random per start and held by
// its own client (Store): the presigned URLs that client makes work, a
// request from anyone else gets 403 (sigv4.go).
type Server struct {
	URL    string // endpoint, e.g. http://127.0.0.1:41234
	Bucket string // created on start
	srv    *http.Server
	done   chan error
	creds  aws.Credentials
	// inFlight counts requests being served, so Close can tell a request
	// it cut off from a connection that never sent one.
	inFlight atomic.Int64
}

// Start serves the S3 API (gofakes3) on 127.0.0.1 and creates Bucket.
// Objects live in memory when dir is empty, else in files under dir, which
// survive restarts.
func Start(dir string) (*Server, error) {
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
	exists, err := backend.BucketExists(Bucket)
	if err == nil && !exists {
		err = backend.CreateBucket(Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("local blob store: create bucket %s: %w", Bucket, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("local blob store: make credentials: %w", err)
	}
	creds := aws.Credentials{AccessKeyID: "kitaru-dev", SecretAccessKey: base64.RawURLEncoding.EncodeToString(secret), Source: "localblob"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("local blob store: listen: %w", err)
	}
	signed := signedOnly{next: gofakes3.New(backend).Server(), creds: creds, now: time.Now}
	s := &Server{
		URL:    "http://" + ln.Addr().String(),
		Bucket: Bucket,
		done:   make(chan error, 1),
		creds:  creds,
	}
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inFlight.Add(1)
		defer s.inFlight.Add(-1)
		signed.ServeHTTP(w, r)
	})
	s.srv = &http.Server{Handler: counted, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Store returns an s3blob.Store on the server's bucket.
func (s *Server) Store() *s3blob.Store {
	return &s3blob.Store{Client: newS3Client(s.URL, s.creds), Bucket: s.Bucket}
}

// Close stops the server; objects in memory are gone. Requests under way
// get closeGrace to finish. Connections that never sent a request are
// closed at once: http.Server.Shutdown would wait until they are 5 s old
// (an HTTP client may dial one it then never uses), and a close that waited
// for them failed with "context deadline exceeded".
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		cut := s.inFlight.Load()
		err = s.srv.Close()
		if cut > 0 {
			err = errors.Join(err, fmt.Errorf("local blob store: %d request(s) still under way after %s were cut off", cut, closeGrace))
		}
	}
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// closeGrace is how long Close waits for requests under way.
const closeGrace = 2 * time.Second

// newS3Client returns an S3 client for endpoint: the server's credentials,
// region us-east-1, path-style addressing since bucket subdomains of
// 127.0.0.1 do not resolve. It reads no AWS configuration from the environment.
func newS3Client(endpoint string, creds aws.Credentials) *s3.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.StaticCredentialsProvider{Value: creds},
		HTTPClient:  sdkbody.Wrap(nil),
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}
