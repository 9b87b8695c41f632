package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/registry"
)

// fakeBlobs stands in for S3 in memory: the simulation measures DynamoDB
// and Step Functions, and an S3 round trip per invoke (the run object)
// would only spend wall time. It counts puts so the report can show the
// S3 request rate the workload implies.
type fakeBlobs struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int64
}

var _ blob.Store = (*fakeBlobs)(nil)

func (f *fakeBlobs) Stat(_ context.Context, key string) (int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[key]
	return int64(len(b)), ok, nil
}

func (f *fakeBlobs) Put(_ context.Context, key string, body io.ReadSeeker, _ int64) error {
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.objects == nil {
		f.objects = map[string][]byte{}
	}
	f.objects[key] = b
	f.puts++
	return nil
}

func (f *fakeBlobs) Get(_ context.Context, key string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[key]
	if !ok {
		return nil, registry.Errorf(registry.CodeNotFound, "no object %s", key)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *fakeBlobs) Delete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, key)
	return nil
}

func (f *fakeBlobs) PresignPut(_ context.Context, key string, _ int64, ttl time.Duration) (blob.Presigned, error) {
	return blob.Presigned{URL: "http://blobs.invalid/" + key, Method: "PUT", ExpiresAt: time.Now().Add(ttl)}, nil
}

func (f *fakeBlobs) PresignPutSHA256(ctx context.Context, key string, size int64, _ []byte, ttl time.Duration) (blob.Presigned, error) {
	return f.PresignPut(ctx, key, size, ttl)
}

func (f *fakeBlobs) PresignGet(_ context.Context, key string, _ time.Duration) (string, error) {
	return fmt.Sprintf("http://blobs.invalid/%s", key), nil
}

// Puts is the number of objects written.
func (f *fakeBlobs) Puts() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts
}
