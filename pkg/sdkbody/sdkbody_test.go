package sdkbody_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/sdkbody"
)

// slowWriter is a connection whose writer, once it has sent a request,
// stalls before net/http's request writer goes on: what a writer goroutine
// descheduled on a loaded machine does.
type slowWriter struct{ net.Conn }

func (c slowWriter) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	time.Sleep(50 * time.Millisecond)
	return n, err
}

// TestAResponseIsReadToItsEndWhileTheRequestWriterLags: the server answers a
// GetItem with a large item sent in two halves 200 ms apart, and the
// client's request writer stalls after each write. The SDK closes the
// request body when the headers arrive; without the wrapper, the writer
// then takes the closed body's io.EOF for an error and closes the
// connection under the second half.
func TestAResponseIsReadToItsEndWhileTheRequestWriterLags(t *testing.T) {
	big := strings.Repeat("x", 300<<10)
	body := fmt.Sprintf(`{"Item":{"PK":{"S":"k"},"doc":{"S":%q}}}`, big)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = r.Body.Read(make([]byte, 1<<10))
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write([]byte(body[:len(body)/2]))
		w.(http.Flusher).Flush()
		time.Sleep(200 * time.Millisecond)
		_, _ = w.Write([]byte(body[len(body)/2:]))
	}))
	defer srv.Close()

	for _, tc := range []struct {
		name    string
		wrap    func(aws.HTTPClient) aws.HTTPClient
		wantErr bool
	}{
		{"the SDK's own body loses the connection", func(c aws.HTTPClient) aws.HTTPClient { return c }, true},
		{"a body of Read and Close reads the item", sdkbody.Wrap, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dialer := &net.Dialer{}
			transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, addr)
				return slowWriter{c}, err
			}}
			defer transport.CloseIdleConnections()
			db := dynamodb.New(dynamodb.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
				Credentials:                     credentials.NewStaticCredentialsProvider("k", "s", ""),
				HTTPClient:                      tc.wrap(&http.Client{Transport: transport}),
				DisableValidateResponseChecksum: true,
			})
			out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
				TableName: aws.String("t"), Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "k"}},
			})
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), "use of closed network connection") {
					t.Fatalf("err = %v, want the connection closed under the response (if this passes, smithy-go fixed its WriteTo and the wrapper can go)", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if doc, ok := out.Item["doc"].(*types.AttributeValueMemberS); !ok || len(doc.Value) != len(big) {
				t.Fatalf("item %v, want the whole document", out.Item["PK"])
			}
		})
	}
}

func TestWrapWrapsOnce(t *testing.T) {
	once := sdkbody.Wrap(nil)
	if twice := sdkbody.Wrap(once); twice != once {
		t.Fatalf("Wrap(Wrap(nil)) = %#v, want the same client", twice)
	}
}
