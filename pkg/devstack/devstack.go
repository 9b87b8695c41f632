// Package devstack is the embedded default behind `kitaru dev`: one process
// serving the API Gateway handlers over plain HTTP, on an embedded SQLite
// registry (pkg/sqlstore, in a file or in memory) or any DynamoDB endpoint.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/blob/localblob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/dynamo"
	"github.com/kitaru/deployments/pkg/dynamo/defaultconfig"
	"github.com/kitaru/deployments/pkg/gateway"
	"github.com/kitaru/deployments/pkg/lambdaenv/bundleenv"
	"github.com/kitaru/deployments/pkg/reaper"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/runnerfiles"
	"github.com/kitaru/deployments/pkg/service"
	"github.com/kitaru/deployments/pkg/sqlstore"
	"github.com/kitaru/deployments/pkg/workflow"
	"github.com/kitaru/deployments/pkg/workflow/pyrunner"
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
	// AWS) to keep the registry in; empty keeps it in SQLite (DataDir).
	DynamoDBEndpoint string
	// Table is the registry table on DynamoDBEndpoint, created at start;
	// empty is DefaultTable.
	Table string
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// Python is the interpreter that runs flows; empty is python3 on PATH.
	Python string
	// FlowOutput receives what flows print (their stderr and stdout); nil discards.
	FlowOutput io.Writer
	// DataDir keeps the data on disk, so that it outlives a restart: the
	// SQLite registry (DataDir/registry.db, unless DynamoDBEndpoint is set)
	// and bundles and large results (DataDir/blobs). Empty keeps everything
	// in memory (`kitaru dev --memory`). DefaultDataDir is where `kitaru
	// dev` puts it.
	DataDir string
	// MaxFlowOutputBytes caps what one run writes to FlowOutput; 0 is
	// pyrunner.DefaultMaxOutputBytes.
	MaxFlowOutputBytes int64
	// APIKey is the producer key of project default to accept; empty creates
	// a new one at start (Server.APIKey returns it).
	APIKey string
}

// Project is the project kitaru dev's key belongs to.
const Project = "default"

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
	// services is the graph the Lambda functions run too (service.New).
	services *service.Services
	logger   *slog.Logger
	http     *http.Server
	served   chan error
	sqlite   *sqlstore.Store // nil on a DynamoDB endpoint
	blobs    *localblob.Server
	blobDir  string // on-disk blobs; empty in memory
	// isolated: flows run in their own namespaces (pyrunner.Runner.Isolated).
	isolated bool
	runs     *workflow.Local
	runner   *pyrunner.Runner // nil until started
	pyDir    string           // runner.py and the kitaru module, written at start
	apiKey   string

	// execs wakes ?wait= readers as outcomes are recorded.
	execs *notifyingStore
}

// Start opens the registry (creating the table on a DynamoDB endpoint) and serves the API until Close. Bundles are
// limited by KITARU_MAX_BUNDLE_MB, read as the Lambda functions read it.
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
	s := &Server{logger: cfg.Logger, served: make(chan error, 1)}
	if err := s.start(ctx, cfg); err != nil {
		return nil, errors.Join(err, s.closeLocal())
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, cfg Config) error {
	// The bundle limit is the Lambda functions' setting, read the same way.
	maxBundleBytes, err := bundleenv.ReadMaxBytes(os.Getenv)
	if err != nil {
		return err
	}
	limits := bundle.LimitsFor(maxBundleBytes)
	opened, err := s.openStore(ctx, cfg)
	if err != nil {
		return err
	}
	store := newNotifyingStore(opened)
	s.execs = store
	secret, err := auth.NewSecret()
	if err != nil {
		return err
	}
	blobs, err := s.startBlobs(cfg.DataDir)
	if err != nil {
		return err
	}
	// Run objects (each run's log upload URLs) live in the in-process S3 and
	// go when their execution ends, as on AWS.
	runObjects := &artifacts.Store{Blobs: blobs}
	if err := s.startRuns(cfg, store, runObjects); err != nil {
		return err
	}
	flowSecrets, err := openSecrets(cfg.DataDir)
	if err != nil {
		return err
	}
	// No route cache (service.Config.Routes): one process on a local engine
	// has no partition throughput to save, and every resolve stays exact
	// (docs/route-cache.md, "kitaru dev").
	s.services, err = service.New(service.Config{
		Store: store, Stacks: Stacks(), Blobs: blobs, Executor: s.runs, Secrets: flowSecrets,
		Signer: &auth.Signer{Secret: secret}, BundleLimits: limits, Logger: cfg.Logger, Watcher: store.hub,
	})
	if err != nil {
		return err
	}
	if err := s.registerKey(ctx, cfg, store.Store); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	s.url = "http://" + ln.Addr().String()
	gw := &gateway.Gateway{Backend: newBackend(s, s.services.Authorizer), Stage: stage, MaxBodyBytes: MaxBodyBytes, Logger: cfg.Logger}
	s.http = &http.Server{Handler: namedServer(gw), ReadHeaderTimeout: 10 * time.Second}
	s.startReaper(store, runObjects, cfg.Logger)
	go func() { s.served <- s.http.Serve(ln) }()
	return nil
}

// Store is what kitaru dev keeps its registry in: pkg/service's store and
// the reaper's running index.
type Store interface {
	service.Store
	reaper.Store
}

// RegistryFile is the SQLite registry's file name in Config.DataDir.
const RegistryFile = "registry.db"

// openStore opens the registry: the table on a DynamoDB endpoint, else
// SQLite in DataDir/registry.db, else SQLite in memory.
func (s *Server) openStore(ctx context.Context, cfg Config) (Store, error) {
	if endpoint := cfg.DynamoDBEndpoint; endpoint != "" {
		db, err := defaultconfig.NewClient(ctx, endpoint)
		if err != nil {
			return nil, fmt.Errorf("connect to DynamoDB at %s: %w", endpoint, err)
		}
		if err := dynamo.CreateTable(ctx, db, cfg.Table); err != nil {
			return nil, fmt.Errorf("prepare table on %s: %w", endpoint, err)
		}
		s.backend = fmt.Sprintf("DynamoDB at %s, table %s", endpoint, cfg.Table)
		return dynamo.New(db, cfg.Table), nil
	}
	path := sqlstore.Memory
	s.backend = "SQLite in memory (gone when dev stops)"
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create the data directory %s (--data): %w", cfg.DataDir, err)
		}
		path = filepath.Join(cfg.DataDir, RegistryFile)
		s.backend = "SQLite " + path
	}
	store, err := sqlstore.Open(path)
	if err != nil {
		return nil, err
	}
	s.sqlite = store
	return store, nil
}

// registerKey registers the producer key of project default: the one
// given, or a new one.
func (s *Server) registerKey(ctx context.Context, cfg Config, store Store) error {
	now := time.Now()
	var key auth.Key
	var err error
	if cfg.APIKey != "" {
		key, err = auth.KeyFromPlaintext(cfg.APIKey, []string{Project}, registry.RoleProducer, now)
		s.apiKey = cfg.APIKey
	} else {
		key, s.apiKey, err = auth.NewKey([]string{Project}, registry.RoleProducer, "kitaru dev", now)
	}
	if err != nil {
		return err
	}
	key.Description = "kitaru dev"
	err = store.CreateKey(ctx, key)
	if registry.CodeOf(err) == registry.CodeConflict {
		// A persistent registry already has this key (--api-key on a restart): it must still work.
		_, err = s.services.Authenticator.Authenticate(ctx, "Bearer "+s.apiKey, Project)
	}
	if err != nil {
		return fmt.Errorf("register the dev API key: %w", err)
	}
	return nil
}

// APIKey is the producer key of project default that this server accepts.
func (s *Server) APIKey() string { return s.apiKey }

// startBlobs serves an in-process S3 (gofakes3) for bundles and results, in
// memory or in dataDir/blobs.
func (s *Server) startBlobs(dataDir string) (blob.Store, error) {
	dir := ""
	if dataDir != "" {
		dir = filepath.Join(dataDir, "blobs")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create the data directory %s (--data): %w", dir, err)
		}
		s.blobDir = dir
	}
	local, err := localblob.Start(dir)
	if err != nil {
		return nil, fmt.Errorf("start the in-process object store: %w", err)
	}
	s.blobs = local
	return local.Store(), nil
}

// BlobDir is where bundles and large results are kept on disk; empty when
// they are in memory.
func (s *Server) BlobDir() string { return s.blobDir }

// DefaultDataDir is where kitaru dev keeps its data: the SQLite registry
// and the blobs in $XDG_DATA_HOME/kitaru/dev/local, or, for a table on a
// DynamoDB endpoint, the blobs in $XDG_DATA_HOME/kitaru/dev/<host_port>/<table>
// (~/.local/share when XDG_DATA_HOME is unset).
func DefaultDataDir(endpoint, table string) (string, error) {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find a data directory: %w; pass --data DIR or --memory", err)
		}
		base = filepath.Join(home, ".local", "share")
	}
	if endpoint == "" {
		return filepath.Join(base, "kitaru", "dev", "local"), nil
	}
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		host = u.Host
	}
	if table == "" {
		table = DefaultTable
	}
	return filepath.Join(base, "kitaru", "dev", pathSafe(host), pathSafe(table)), nil
}

// pathSafe keeps letters, digits and . _ - of s, and turns the rest into _.
func pathSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

// startRuns writes the Python runner to a fresh directory and starts the
// in-process workflow interpreter that runs flows with it.
func (s *Server) startRuns(cfg Config, store workflow.ExecutionFinisher, runObjects workflow.RunObjectRemover) error {
	dir, err := os.MkdirTemp("", "kitaru-dev-runner-")
	if err != nil {
		return fmt.Errorf("create the runner directory: %w", err)
	}
	s.pyDir = dir
	if err := runnerfiles.Write(dir); err != nil {
		return fmt.Errorf("write the runner: %w", err)
	}
	runner := pyrunner.Runner{Dir: dir, Python: cfg.Python, Stderr: cfg.FlowOutput, MaxOutputBytes: cfg.MaxFlowOutputBytes, Logger: cfg.Logger}
	if cfg.DataDir != "" {
		// The registry file and the blobs: a flow reads and writes the
		// registry only through the API.
		runner.HiddenDirs = []string{cfg.DataDir}
	}
	// The interpreter is resolved once, here, and the fork server warmed.
	if err := runner.Start(); err != nil {
		return err
	}
	s.runner = &runner
	s.isolated = runner.Isolated()
	s.runs, err = workflow.NewLocal(workflow.LocalConfig{
		Definition: workflow.Default(),
		Runner:     runner,
		Finisher:   workflow.RemovingRunObjects(workflow.StoreFinisher(store), runObjects),
		Logger:     cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("start the workflow interpreter: %w", err)
	}
	return nil
}

// FlowsIsolated reports whether flows run in their own user, PID and mount
// namespaces (docs/dev-runner.md); false means in their own session only.
func (s *Server) FlowsIsolated() bool { return s.isolated }

// FlowsWarm reports whether runs are forked from a fork server
// (docs/dev-runner.md); false means each run starts a new interpreter.
func (s *Server) FlowsWarm() bool { return s.runner != nil && s.runner.Warm() }

// URL is the base URL of the API, e.g. http://127.0.0.1:8787.
func (s *Server) URL() string { return s.url }

// Backend says where the registry is: SQLite in a file or in memory, or
// DynamoDB at an endpoint with its table.
func (s *Server) Backend() string { return s.backend }

// Close stops accepting requests, waits for those in flight and for running
// flows (stopping them after a grace period, recorded as interrupted), then
// closes the registry and the blob store (what is in memory is gone; files stay).
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if serveErr := <-s.served; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return errors.Join(err, s.closeLocal())
}

// closeLocal stops what start started, in reverse order; it also cleans up
// after a failed start.
func (s *Server) closeLocal() error {
	var err error
	if s.runs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = errors.Join(err, s.runs.Close(ctx))
		cancel()
	}
	if s.runner != nil {
		s.runner.Close()
	}
	if s.pyDir != "" {
		err = errors.Join(err, os.RemoveAll(s.pyDir))
	}
	if s.blobs != nil {
		err = errors.Join(err, s.blobs.Close())
	}
	if s.sqlite != nil {
		err = errors.Join(err, s.sqlite.Close())
	}
	return err
}
