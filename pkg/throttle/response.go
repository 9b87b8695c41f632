package throttle

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
)

// HTTPClient is what the AWS SDK clients send requests with.
type HTTPClient interface {
	Do(*http.Request) (*http.Response, error)
}

// HandlerClient sends requests to an http.Handler in process, with no
// socket: minidyn's server, FakeStepFunctions.
type HandlerClient struct{ Handler http.Handler }

// Do serves r with the handler and returns its answer.
func (c HandlerClient) Do(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	c.Handler.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// jsonError is an AWS JSON-protocol error answer.
func jsonError(r *http.Request, status int, body string) *http.Response {
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"throttle-simulation"}},
		Body:   io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body)), Request: r,
	}
}

// readBody reads and restores a request's body.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}
