// Package devstack is the embedded default behind `kitaru dev`: one process
// serving the API Gateway handlers over plain HTTP, on an in-process
// DynamoDB (minidyn) or any DynamoDB endpoint.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/localdynamo"
	"github.com/kitaru/deployments/pkg/registry"
)

// Defaults of Config.
const (
	DefaultAddr  = "127.0.0.1:8787"
	DefaultTable = "kitaru-dev"
)

// MaxBodyBytes is the largest request body kitaru dev reads, as API Gateway's
// payload limit; the handlers apply their own, smaller limits.
const MaxBodyBytes = 10 << 20

// Config configures a dev server.
type Config struct {
	// Addr is the listen address; empty is DefaultAddr, port 0 picks a free port.
	Addr string
	// DynamoDBEndpoint is a DynamoDB endpoint (DynamoDB Local, LocalStack,
	// AWS); empty runs minidyn in process.
	DynamoDBEndpoint string
	// Table is the registry table, created at start; empty is DefaultTable.
	Table string
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
}

// Principal is the caller of every dev request: dev has no login.
var Principal = httpapi.Principal{Project: "default", Role: httpapi.RoleProducer, ID: "dev"}

// Stacks are the dev stacks: `dev` executes deployments, `local` cannot and
// is there to show that deploying to it is refused.
func Stacks() registry.Stacks {
	return registry.Stacks{
		All:     []registry.Stack{{Name: "dev", RemoteExecutable: true}, {Name: "local"}},
		Default: "dev",
	}
}

// Server is a running dev server.
type Server struct {
	url     string
	backend string
	table   string
	handler *httpapi.Handler
	logger  *slog.Logger
	http    *http.Server
	served  chan error
	local   *localdynamo.Server // nil with an external endpoint
}

// Start creates the table and serves the API until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{table: cfg.Table, logger: cfg.Logger, served: make(chan error, 1), backend: cfg.DynamoDBEndpoint}
	if err := s.start(ctx, cfg); err != nil {
		return nil, errors.Join(err, s.closeLocal())
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, cfg Config) error {
	endpoint := cfg.DynamoDBEndpoint
	if endpoint == "" {
		local, err := localdynamo.Start()
		if err != nil {
			return err
		}
		s.local, endpoint, s.backend = local, local.URL, "in-process minidyn"
	}
	db, err := dynamo.NewClient(ctx, endpoint)
	if err != nil {
		return fmt.Errorf("connect to DynamoDB at %s: %w", endpoint, err)
	}
	if err := dynamo.CreateTable(ctx, db, cfg.Table); err != nil {
		return fmt.Errorf("prepare table on %s: %w", s.backend, err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.url = "http://" + ln.Addr().String()
	principal := Principal
	s.handler = httpapi.New(dynamo.New(db, cfg.Table), httpapi.Config{
		Stacks:           Stacks(),
		DefaultPrincipal: &principal,
		Logger:           cfg.Logger,
	})
	s.http = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { s.served <- s.http.Serve(ln) }()
	return nil
}

// URL is the base URL of the API, e.g. http://127.0.0.1:8787.
func (s *Server) URL() string { return s.url }

// Backend says which DynamoDB the server uses: "in-process minidyn" or the endpoint.
func (s *Server) Backend() string { return s.backend }

// Table is the registry table name.
func (s *Server) Table() string { return s.table }

// Close stops accepting requests, waits for those in flight, then stops the
// in-process DynamoDB (its data is gone).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if serveErr := <-s.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return errors.Join(err, s.closeLocal())
}

func (s *Server) closeLocal() error {
	if s.local == nil {
		return nil
	}
	return s.local.Close()
}
