// Package sdkbody keeps an AWS SDK request from closing its own connection
// under the response it is reading.
//
// smithy-go (the AWS SDK's transport) wraps every request body in a closer
// whose WriteTo answers io.EOF once the body is closed, and it closes the
// body as soon as the HTTP client returns the response headers. net/http's
// request writer, after sending the declared Content-Length, copies what is
// left of the body into io.Discard; when the server answered first (a
// descheduled writer under load is enough), that copy meets the closed body,
// takes the io.EOF for a write error and closes the connection, while the
// SDK is still reading the response from it. The caller sees "deserialization
// failed … use of closed network connection" (aws-sdk-go-v2 issues 1825 and
// 2737). The SDK retries that error, but the same race can meet every attempt;
// it failed a CI run on three in a row.
//
// A body that offers only Read and Close makes that copy use Read, which
// answers a clean io.EOF on a closed body.
package sdkbody

import (
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// Client sends each request through Next with its body stripped to Read
// and Close.
type Client struct {
	Next aws.HTTPClient
}

// Do implements aws.HTTPClient.
func (c Client) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = readCloser{r.Body}
	}
	return c.Next.Do(r)
}

// readCloser hides every method of a body but Read and Close.
type readCloser struct{ io.ReadCloser }

// Wrap returns next (the SDK's default client when nil) behind Client,
// once: a client already wrapped is returned as it is.
func Wrap(next aws.HTTPClient) aws.HTTPClient {
	switch next.(type) {
	case Client:
		return next
	case nil:
		next = awshttp.NewBuildableClient()
	}
	return Client{Next: next}
}

// Config returns cfg with its HTTP client wrapped, for every SDK client
// built from it.
func Config(cfg aws.Config) aws.Config {
	cfg.HTTPClient = Wrap(cfg.HTTPClient)
	return cfg
}
