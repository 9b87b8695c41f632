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
	"strings"
	"sync"
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
		http: &http.Server{Handler: &snapshotReads{next: server.NewServer()}, ReadHeaderTimeout: 10 * time.Second},
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

// snapshotReads makes minidyn's TransactGetItems one snapshot, as
// DynamoDB's is: minidyn reads its items one GetItem at a time, each under
// its own lock, so a write committing in between paired an item from before
// it with one from after it (the store's version delete depends on the
// snapshot; docs/data-model.md, "Round trips"). Writes share the lock among
// themselves (minidyn serialises them anyway); a TransactGetItems holds it
// alone.
type snapshotReads struct {
	next http.Handler
	mu   sync.RWMutex
}

// writeOps are the operations that change items.
var writeOps = map[string]bool{
	"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true,
}

func (s *snapshotReads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	switch {
	case op == "TransactGetItems":
		s.mu.Lock()
		defer s.mu.Unlock()
	case writeOps[op]:
		s.mu.RLock()
		defer s.mu.RUnlock()
	}
	s.next.ServeHTTP(w, r)
}
