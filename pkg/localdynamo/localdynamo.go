// Package localdynamo runs minidyn's DynamoDB-wire server in process on a
// loopback port, for tests: pkg/dynamo's second engine beside DynamoDB
// Local (kitaru dev keeps its registry in SQLite, pkg/sqlstore).
package localdynamo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/truora/minidyn/server"
)

// Server is an in-process DynamoDB endpoint.
type Server struct {
	// URL is the endpoint to give the SDK, e.g. http://127.0.0.1:40123.
	URL  string
	http *http.Server
	done chan error
}

// Start serves a fresh, empty minidyn on 127.0.0.1 at a free port.
func Start() (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for in-process DynamoDB: %w", err)
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		http: &http.Server{Handler: server.NewServer(), ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// Close stops the server; the data is gone. Requests in flight get a
// second to finish; connections a client opened but never used are closed
// at once rather than waited for.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.http.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		err = s.http.Close()
		if err != nil {
			return fmt.Errorf("stop in-process DynamoDB: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("stop in-process DynamoDB: %w", err)
	}
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
