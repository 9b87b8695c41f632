// Package service builds the service graph the API runs on — artifact
// store, invoke service, authenticator, authorizer and the httpapi.Handler
// around them — from one Config. The Lambda functions (pkg/lambdaenv) fill
// Config from their environment and AWS clients, kitaru dev (pkg/devstack)
// from its flags and in-process engines; both then serve what New returns,
// so the two cannot wire the same pieces differently.
//
// It imports no AWS client: engines arrive as interfaces (a blob store, an
// executor), so a function links only the clients its route group uses.
package service

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/kitaru/deployments/pkg/artifacts"
	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/blob"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/gatewayauth"
	"github.com/kitaru/deployments/pkg/httpapi"
	"github.com/kitaru/deployments/pkg/invoke"
	"github.com/kitaru/deployments/pkg/prune"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/secrets"
	"github.com/kitaru/deployments/pkg/version"
	"github.com/kitaru/deployments/pkg/workflow"
)

// Store is the registry table every service shares: deployments and tags,
// executions, idempotency records and API keys. *dynamo.Store is one.
type Store interface {
	registry.Store
	registry.ExecutionStore
	registry.IdempotencyStore
	auth.KeyStore
	registry.UnroutedDeleter
	registry.BundleGuard
}

// Config is everything the service graph is built from.
type Config struct {
	// Store is the registry table (required).
	Store Store
	// Stacks is the stack catalogue deploys choose from and invokes run on.
	Stacks registry.Stacks
	// Groups are the route groups the handler serves; empty serves all.
	Groups []httpapi.Group
	// Blobs keeps source bundles and large results; required when the
	// deploy or invoke group is served.
	Blobs blob.Store
	// Executor starts and stops runs; required when the invoke group is
	// served.
	Executor workflow.Executor
	// Signer signs and verifies tokens; required when the auth group is
	// served, when VerifyBearer is set, and for an Authorizer.
	Signer *auth.Signer
	// BundleLimits bound source bundles, for the artifact store and the
	// runner alike; zero fields are bundle.DefaultLimits.
	BundleLimits bundle.Limits
	// VerifyBearer makes the handlers authenticate requests that arrive
	// without authorizer context themselves, for gateways that run no
	// authorizer.
	VerifyBearer bool
	// Logger receives the handler's and the authorizer's lines; nil discards.
	Logger *slog.Logger
	// Watcher holds GET /v1/executions/{id}?wait=: kitaru dev's
	// execwatch.Hub, woken as outcomes are recorded in its process; nil
	// re-reads the store with backoff (execwatch.Poller), for the invoke
	// function, whose outcomes the finish function records.
	Watcher httpapi.ExecutionWatcher
	// Secrets keeps flow secrets: the /v1/secrets routes, and the values
	// invokes hand to runs; nil answers those routes 503, and invoking a
	// deployment that declares secrets 503 too.
	Secrets secrets.Store
	// SecretsByReference hands runs their secrets in their run object on
	// Blobs (artifacts.Store.PutRunObject) rather than in process: set where
	// the executor passes run requests on encoded (Step Functions).
	SecretsByReference bool
	// Routes, when set, is what the handler and the invoker read and
	// change routes through instead of Store: a route cache over Store
	// (routecache.Cache, docs/route-cache.md). Not with the auth group,
	// whose token issue reads API keys from the handler's store.
	Routes registry.Store
}

// Services is the built graph. A piece whose engine Config lacks is nil.
type Services struct {
	// Store is Config.Store.
	Store Store
	// Artifacts keeps source bundles and results on Config.Blobs.
	Artifacts *artifacts.Store
	// Invoker resolves, records and starts executions on Config.Executor.
	Invoker *invoke.Service
	// Authenticator checks API keys and tokens (nil without a Signer).
	Authenticator *auth.Authenticator
	// Authorizer is the API Gateway REQUEST authorizer on Authenticator:
	// the authorizer function serves it, kitaru dev calls it before every
	// handler (nil without a Signer).
	Authorizer *gatewayauth.Authorizer
	// Handler serves Config.Groups.
	Handler *httpapi.Handler
}

// New builds the graph cfg describes. Errors name the Config field a served
// group needs and lacks.
func New(cfg Config) (*Services, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("service.Config.Store is nil; build the registry store first")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	serves := func(g httpapi.Group) bool { return len(cfg.Groups) == 0 || slices.Contains(cfg.Groups, g) }
	s := &Services{Store: cfg.Store}
	hcfg := httpapi.Config{
		Stacks: cfg.Stacks, Groups: cfg.Groups, Logger: cfg.Logger,
		Executions: cfg.Store, Watcher: cfg.Watcher, Idempotency: cfg.Store, ServerVersion: version.Version,
		Secrets: cfg.Secrets, BundleGuard: cfg.Store,
	}
	var routes registry.Store = cfg.Store
	if cfg.Routes != nil {
		if serves(httpapi.GroupAuth) {
			return nil, fmt.Errorf("service.Config.Routes is set for the %s group, which reads API keys from Store; leave Routes nil there", httpapi.GroupAuth)
		}
		routes = cfg.Routes
	}
	if cfg.Signer != nil {
		s.Authorizer = newAuthorizer(cfg)
		s.Authenticator = s.Authorizer.Auth
	}
	if serves(httpapi.GroupAuth) {
		if cfg.Signer == nil {
			return nil, fmt.Errorf("the %s group issues tokens but service.Config.Signer is nil", httpapi.GroupAuth)
		}
		hcfg.Tokens = cfg.Signer
	}
	if cfg.VerifyBearer {
		if s.Authenticator == nil {
			return nil, fmt.Errorf("verifying bearers needs service.Config.Signer")
		}
		hcfg.Authenticate = s.Authenticator.Authenticate
	}
	if serves(httpapi.GroupDeploy) || serves(httpapi.GroupInvoke) {
		if cfg.Blobs == nil {
			return nil, fmt.Errorf("the deploy and invoke groups store bundles but service.Config.Blobs is nil")
		}
		s.Artifacts = &artifacts.Store{Blobs: cfg.Blobs, Limits: cfg.BundleLimits}
		hcfg.Artifacts = s.Artifacts
		hcfg.Logs = s.Artifacts
		hcfg.Bundles = s.Artifacts
		hcfg.Pruner = &prune.Pruner{Store: cfg.Store, Bundles: s.Artifacts}
	}
	if serves(httpapi.GroupInvoke) {
		if cfg.Executor == nil {
			return nil, fmt.Errorf("the %s group starts runs but service.Config.Executor is nil", httpapi.GroupInvoke)
		}
		s.Invoker = &invoke.Service{
			Registry: routes, Execs: cfg.Store, Executor: cfg.Executor, Objects: s.Artifacts, RunObjects: s.Artifacts,
			Stacks: cfg.Stacks, TimeoutSeconds: workflow.Default().Run.TimeoutSeconds,
			BundleLimits: cfg.BundleLimits, Secrets: cfg.Secrets, SecretsByReference: cfg.SecretsByReference,
		}
		hcfg.Invoker = s.Invoker
	}
	s.Handler = httpapi.New(routes, hcfg)
	return s, nil
}

// NewAuthorizer builds only the authorizer, for the authorizer function:
// it needs cfg.Store and cfg.Signer and serves no routes.
func NewAuthorizer(cfg Config) (*gatewayauth.Authorizer, error) {
	if cfg.Store == nil || cfg.Signer == nil {
		return nil, fmt.Errorf("the authorizer needs service.Config.Store and service.Config.Signer")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return newAuthorizer(cfg), nil
}

func newAuthorizer(cfg Config) *gatewayauth.Authorizer {
	return &gatewayauth.Authorizer{Auth: &auth.Authenticator{Keys: cfg.Store, Tokens: cfg.Signer}, Logger: cfg.Logger}
}
