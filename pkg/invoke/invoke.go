// Package invoke starts snapshot executions: resolve the route, merge and
// validate the inputs, record the execution, start the workflow. It is the
// one place that order lives; the HTTP layer and kitaru dev call it.
package invoke

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
	"github.com/kitaru/deployments/pkg/workflow"
)

// Resolver picks the deployment a selector names (registry.Store is one).
type Resolver interface {
	Resolve(ctx context.Context, project, flow string, sel registry.Selector) (registry.Resolution, error)
}

// Objects hands the runner time-limited URLs for its bundle and its result.
type Objects interface {
	// BundleURL returns a URL the runner can GET the project's bundle from.
	BundleURL(ctx context.Context, project, digest string, ttl time.Duration) (string, error)
	// ResultUpload returns where the runner PUTs a result too large for the record.
	ResultUpload(ctx context.Context, project, execID string, ttl time.Duration) (workflow.URLRef, error)
}

// RunObjects keeps each execution's run object (workflow.RunObject), what
// its runner reads once at start; artifacts.Store is one.
type RunObjects interface {
	// LogUpload returns the presigned PUTs of the log's chunks.
	LogUpload(ctx context.Context, project, execID string, ttl time.Duration) (workflow.LogUpload, error)
	// PutRunObject stores obj and returns a reference to it valid for ttl.
	PutRunObject(ctx context.Context, project, execID string, obj workflow.RunObject, ttl time.Duration) (workflow.URLRef, error)
	workflow.RunObjectRemover
}

// SecretResolver reads the values of a project's flow secrets;
// secrets.Store is one.
type SecretResolver interface {
	// Resolve returns the values of names. Errors: unprocessable naming the
	// missing secrets.
	Resolve(ctx context.Context, project string, names []string) (map[string]string, error)
}

// RunObjectTTL is how long the presigned GET of a run object works. The
// runner reads it once, when an attempt of the Run step starts, so it must
// only outlast the time from the invoke to the last attempt's start when
// Lambda could not run the earlier ones: Step Functions' start, the
// runner's cold start (Lambda bounds init at 10 s) and the Run step's
// retry delays (at most 2+4+8 s, workflow.Default). Two minutes covers that
// with room for throttling; an attempt started later (one retried after a
// Lambda service error that came late) fails RunObjectUnavailable and is
// recorded failed, to be invoked again (docs/executions.md).
const RunObjectTTL = 2 * time.Minute

// Service invokes deployments.
type Service struct {
	Registry Resolver
	Execs    registry.ExecutionStore
	Executor workflow.Executor
	Objects  Objects
	// RunObjects, when set, gives every run a run object holding its
	// log_upload (and, with SecretsByReference, its secrets); nil runs keep
	// no execution log.
	RunObjects RunObjects
	Stacks     registry.Stacks
	// TimeoutSeconds bounds one run of the flow (the workflow's Run step).
	TimeoutSeconds int
	// BundleLimits are the limits the deploy path validates bundles with
	// (the artifact store's); the run request carries them to the runner,
	// so that a bundle deploy accepted is one the runner downloads. Zero
	// fields take bundle.DefaultLimits.
	BundleLimits bundle.Limits
	// Schemas caches compiled input schemas by content, so an invoke does
	// not compile its deployment's schema again; nil uses one cache shared
	// by the process (safe: entries are keyed by the schema's hash).
	Schemas *registry.SchemaCache
	// Secrets resolves the flow secrets a deployment declares, for its
	// run only; nil makes invoking such a deployment unavailable.
	Secrets SecretResolver
	// SecretsByReference puts a run's secrets in its run object, which the
	// run request references (RunRequest.Run): the AWS path, whose executor
	// passes the request on encoded. False hands them in process
	// (RunRequest.Env): kitaru dev.
	SecretsByReference bool
	// Now and NewID are injectable for tests; nil means the real clock and ULIDs.
	Now   func() time.Time
	NewID func() string
}

// Request is one invocation.
type Request struct {
	Project        string
	Flow           string
	Selector       registry.Selector
	Inputs         json.RawMessage
	IdempotencyKey string
	By             string
}

// Invoke resolves, validates, records and starts one execution. created is
// false when an Idempotency-Key replay returned an existing execution.
func (s *Service) Invoke(ctx context.Context, req Request) (registry.Execution, bool, error) {
	if err := registry.ValidateFlowName(req.Flow); err != nil {
		return registry.Execution{}, false, err
	}
	if err := req.Selector.Normalize(); err != nil {
		return registry.Execution{}, false, err
	}
	if err := validateIdempotencyKey(req.IdempotencyKey); err != nil {
		return registry.Execution{}, false, err
	}
	inputs, err := registry.NormalizeInputs(req.Inputs)
	if err != nil {
		return registry.Execution{}, false, err
	}
	// A split tag's pick is stable for a sticky key and, without one, for
	// an Idempotency-Key, so a retried invoke lands on the version its first
	// attempt picked (docs/splits.md).
	pick := req.Selector
	if pick.StickyKey == "" {
		pick.StickyKey = req.IdempotencyKey
	}
	res, err := s.Registry.Resolve(ctx, req.Project, req.Flow, pick)
	if err != nil {
		return registry.Execution{}, false, err
	}
	d := res.Deployment
	recorded := req.Selector
	recorded.StickyKey = "" // a request parameter (often a user id): not kept with the execution
	var routeRevision int64
	if res.Route != nil {
		routeRevision = res.Route.Revision
	}
	if err := s.checkRunnable(d); err != nil {
		return registry.Execution{}, false, err
	}
	merged, err := registry.MergeInputs(d.Inputs, inputs)
	if err != nil {
		return registry.Execution{}, false, err
	}
	if err := s.validateInputs(d, merged); err != nil {
		return registry.Execution{}, false, err
	}
	env, err := s.resolveSecrets(ctx, req.Project, d)
	if err != nil {
		return registry.Execution{}, false, err
	}
	exec, created, claim, err := s.record(ctx, registry.Execution{
		Project: req.Project, Flow: d.Flow, Version: d.Version, Snapshot: d.Snapshot,
		Selector: recorded, RouteRevision: routeRevision, Status: registry.StatusRunning, Inputs: merged,
		InvokedBy: req.By, IdempotencyKey: req.IdempotencyKey,
		RequestFingerprint: requestFingerprint(req.Flow, req.Selector, inputs),
	}, d.Version)
	if err != nil || claim == 0 {
		return exec, false, err
	}
	if err := s.start(ctx, exec, d, env, claim); err != nil {
		return registry.Execution{}, false, err
	}
	return exec, created, nil
}

// record records e under a fresh id and returns it with claim 1, or, for
// an Idempotency-Key replay, the execution the key names: with the start
// claim it took when it is still running on version (a replay starts it
// again: starting is idempotent per execution id, and it heals a start
// lost to a crash), or with claim 0 when there is nothing to start. The
// claim keeps the request that recorded it from abandoning it under this
// start (docs/executions.md, "A replay racing the abandon").
func (s *Service) record(ctx context.Context, e registry.Execution, version int) (exec registry.Execution, created bool, claim int, err error) {
	for range 2 {
		e.ExecID, e.StartedAt = s.newID(), s.now()
		exec, created, err := s.Execs.CreateExecution(ctx, e)
		if err != nil {
			return registry.Execution{}, false, 0, fmt.Errorf("record execution of %s v%d: %w", e.Flow, e.Version, err)
		}
		if created {
			return exec, true, 1, nil
		}
		if exec.Status.Terminal() || exec.Version != version {
			return exec, false, 0, nil
		}
		claim, err := s.Execs.ClaimStart(ctx, exec.Project, exec.ExecID)
		switch {
		case err == nil:
			return exec, false, claim, nil
		case errors.Is(err, registry.ErrConflict):
			// It ended since the key was read: answer what it recorded.
			exec, err = s.Execs.GetExecution(ctx, exec.Project, exec.ExecID)
			return exec, false, 0, err
		case !errors.Is(err, registry.ErrNotFound):
			return registry.Execution{}, false, 0, fmt.Errorf("claim the start of %s: %w", exec.ExecID, err)
		}
		// Its recorder abandoned it since the key was read, so the key is
		// free: record anew, as a request arriving now would.
	}
	return registry.Execution{}, false, 0, registry.RateLimited(time.Second,
		"the execution this %s named was abandoned twice while this request read it; invoke again in 1 s", registry.HeaderIdempotencyKey)
}

// validateInputs checks merged inputs against the deployment's input schema,
// compiled once per schema; a deployment without one takes any object.
// Deploy-time inputs saved before the number rule are checked here too, so a
// 1e400 among them is a 400 naming its key, which the invoke can override.
func (s *Service) validateInputs(d registry.Deployment, merged json.RawMessage) error {
	if err := registry.CheckJSON(merged, "inputs", registry.MaxJSONDepth); err != nil {
		return err
	}
	if len(d.InputSchema) == 0 {
		return nil
	}
	compiled, err := s.schemas().Compile(d.InputSchema)
	if err != nil {
		return registry.StoredSchemaError(err)
	}
	return compiled.Validate(merged)
}

// sharedSchemas serves the Services that set no Schemas cache.
var sharedSchemas = registry.NewSchemaCache(0)

func (s *Service) schemas() *registry.SchemaCache {
	if s.Schemas != nil {
		return s.Schemas
	}
	return sharedSchemas
}

// checkRunnable refuses deployments that cannot run remotely.
func (s *Service) checkRunnable(d registry.Deployment) error {
	i := slices.IndexFunc(s.Stacks.All, func(st registry.Stack) bool { return st.Name == d.Stack })
	if i < 0 || !s.Stacks.All[i].RemoteExecutable {
		return registry.Errorf(registry.CodeUnprocessable, "version %d of flow %q is on stack %q, which this server cannot execute remotely; deploy it to a remote-executable stack", d.Version, d.Flow, d.Stack).
			WithDetails("stack", d.Stack)
	}
	if d.Source == nil || d.Source.Digest == "" {
		return registry.Errorf(registry.CodeUnprocessable, "version %d of flow %q has no saved source bundle, so it cannot run; deploy %s again with its source", d.Version, d.Flow, d.Entrypoint)
	}
	return nil
}

// resolveSecrets reads the secrets d declares, before any execution is
// recorded, so that a missing one is a 422 naming it and no failed record.
func (s *Service) resolveSecrets(ctx context.Context, project string, d registry.Deployment) (map[string]string, error) {
	if len(d.Secrets) == 0 {
		return nil, nil
	}
	if s.Secrets == nil {
		return nil, registry.Errorf(registry.CodeUnavailable, "version %d of flow %q declares secrets (%s), but this server keeps no flow secrets; ask its operator", d.Version, d.Flow, strings.Join(d.Secrets, ", "))
	}
	env, err := s.Secrets.Resolve(ctx, project, d.Secrets)
	if err != nil {
		return nil, fmt.Errorf("secrets of %s v%d: %w", d.Flow, d.Version, err)
	}
	return env, nil
}

// start hands exec's run to the executor, as the holder of start claim
// claim.
func (s *Service) start(ctx context.Context, exec registry.Execution, d registry.Deployment, env map[string]string, claim int) error {
	ttl := time.Duration(s.timeout()+300) * time.Second
	bundleURL, err := s.Objects.BundleURL(ctx, exec.Project, d.Source.Digest, ttl)
	if err != nil {
		return s.failStart(ctx, exec, fmt.Errorf("presign bundle: %w", err))
	}
	upload, err := s.Objects.ResultUpload(ctx, exec.Project, exec.ExecID, ttl)
	if err != nil {
		return s.failStart(ctx, exec, fmt.Errorf("presign result upload: %w", err))
	}
	req := workflow.RunRequest{
		Project: exec.Project, ExecID: exec.ExecID, Flow: exec.Flow, Version: exec.Version, Snapshot: exec.Snapshot,
		Entrypoint: d.Entrypoint, Inputs: exec.Inputs,
		Bundle:       workflow.URLRef{Digest: d.Source.Digest, URL: bundleURL, MaxBytes: s.maxBundleBytes()},
		ResultUpload: &upload, TimeoutSeconds: s.timeout(), Env: env,
	}
	if s.RunObjects != nil {
		ref, err := s.putRunObject(ctx, exec, env, ttl)
		if err != nil {
			return s.failStart(ctx, exec, err)
		}
		req.Run = &ref
		if s.SecretsByReference {
			req.Env = nil
		}
	}
	err = s.Executor.Start(ctx, req)
	if errors.Is(err, registry.ErrRateLimited) {
		return s.abandonStart(ctx, exec, claim, err)
	}
	if err != nil {
		return s.failStart(ctx, exec, err)
	}
	return nil
}

// putRunObject stores exec's run object: its log's upload URLs, valid as
// long as the bundle's (ttl), and its secrets when they go by reference.
func (s *Service) putRunObject(ctx context.Context, exec registry.Execution, env map[string]string, ttl time.Duration) (workflow.URLRef, error) {
	up, err := s.RunObjects.LogUpload(ctx, exec.Project, exec.ExecID, ttl)
	if err != nil {
		return workflow.URLRef{}, fmt.Errorf("presign log upload: %w", err)
	}
	obj := workflow.RunObject{LogUpload: &up}
	if s.SecretsByReference {
		obj.Secrets = env
	}
	ref, err := s.RunObjects.PutRunObject(ctx, exec.Project, exec.ExecID, obj, RunObjectTTL)
	if err != nil {
		return workflow.URLRef{}, fmt.Errorf("hand off the run object: %w", err)
	}
	return ref, nil
}

// deleteRunObject removes exec's run object when nothing will read it.
func (s *Service) deleteRunObject(ctx context.Context, project, execID string) error {
	if s.RunObjects == nil {
		return nil
	}
	return s.RunObjects.DeleteRunObject(ctx, project, execID)
}

// failStart records an execution that could not be started as failed, so no
// record stays running for a run that never began.
func (s *Service) failStart(ctx context.Context, exec registry.Execution, cause error) error {
	ctx = context.WithoutCancel(ctx)
	o := registry.Outcome{Status: registry.StatusFailed, At: s.now(), Error: &registry.ExecError{Type: "StartFailed", Message: "the execution could not be started; invoke again"}}
	if _, _, err := s.Execs.FinishExecution(ctx, exec.Project, exec.ExecID, o); err != nil {
		return errors.Join(fmt.Errorf("start %s: %w", exec.ExecID, cause), fmt.Errorf("record start failure: %w", err))
	}
	failed := registry.Errorf(registry.CodeUnavailable, "execution %s could not be started and is recorded as failed; invoke again", exec.ExecID).
		WithDetails("exec_id", exec.ExecID).WithDetails("cause", "start")
	// The answer stays this 503: a run object left behind holds nothing a
	// run will read, and the bucket expires it (docs/executions.md).
	if err := s.deleteRunObject(ctx, exec.Project, exec.ExecID); err != nil {
		return errors.Join(failed, err)
	}
	return failed
}

// abandonStart undoes the record of an execution whose start was refused
// for rate (throttled past the executor's retries): nothing ran, so it is
// removed as if never invoked, its Idempotency-Key is free again, and the
// caller gets rate_limited with the wait (429 + Retry-After). When a later
// replay of its key claimed the start (or started it and it ended), it is
// that replay's: nothing is touched, and the caller gets rate_limited
// telling it to repeat the request with its key. If it cannot be removed otherwise, it is recorded failed as
// any other failed start, so that no record stays running without a run.
func (s *Service) abandonStart(ctx context.Context, exec registry.Execution, claim int, cause error) error {
	ctx = context.WithoutCancel(ctx)
	wait, _ := registry.RetryAfter(cause)
	refusal := registry.Errorf(registry.CodeRateLimited, "Step Functions refused the start for rate")
	errors.As(cause, &refusal)
	err := s.Execs.AbandonExecution(ctx, exec.Project, exec.ExecID, claim)
	if errors.Is(err, registry.ErrConflict) {
		// Only a start by a replay of its key can claim or end it.
		return errors.Join(registry.RateLimited(wait, "%s, but another request with your %s started or is starting execution %s: repeat this request with the same key in %d s to read it", refusal.Message, registry.HeaderIdempotencyKey, exec.ExecID, int(wait.Seconds())).
			WithDetails("cause", "start").WithDetails("exec_id", exec.ExecID), cause)
	}
	if err != nil {
		return s.failStart(ctx, exec, errors.Join(cause, fmt.Errorf("abandon the unstarted execution: %w", err)))
	}
	limited := registry.RateLimited(wait, "%s. Nothing was recorded either (an Idempotency-Key you sent is free again): invoke again in %d s", refusal.Message, int(wait.Seconds())).
		WithDetails("cause", "start")
	// Nothing reads the run object of a run that never started.
	if err := s.deleteRunObject(ctx, exec.Project, exec.ExecID); err != nil {
		return errors.Join(limited, cause, err)
	}
	return errors.Join(limited, cause)
}

// Cancel records a running execution as cancelled, then stops its run.
// Cancelling a cancelled execution again only retries the stop.
func (s *Service) Cancel(ctx context.Context, project, execID string) (registry.Execution, error) {
	exec, finished, err := s.Execs.FinishExecution(ctx, project, execID, registry.Outcome{Status: registry.StatusCancelled, At: s.now()})
	if err != nil {
		return registry.Execution{}, err
	}
	if !finished && exec.Status != registry.StatusCancelled {
		return exec, registry.Errorf(registry.CodeConflict, "execution %s already ended as %s; there is nothing to cancel", execID, exec.Status).
			WithDetails("status", exec.Status)
	}
	if err := s.Executor.Stop(ctx, project, execID); err != nil {
		return exec, fmt.Errorf("stop execution %s (it is recorded as cancelled; cancel again to retry the stop): %w", execID, err)
	}
	// A stopped state machine runs no record step, so the cancel deletes
	// the run object; a runner still going read it when it started.
	if err := s.deleteRunObject(ctx, project, execID); err != nil {
		return exec, fmt.Errorf("cancel execution %s (it is recorded as cancelled; cancel again to retry): %w", execID, err)
	}
	return exec, nil
}

// validateIdempotencyKey checks a key when there is one (an invocation
// needs none).
func validateIdempotencyKey(key string) error {
	if key == "" {
		return nil
	}
	return registry.ValidateIdempotencyKey(key)
}

// requestFingerprint identifies an invocation request for its
// Idempotency-Key: the flow, the selector as asked (not as resolved, so a
// retry after a tag moved is still the same request) and the inputs as
// sent (not merged), canonically. The pinned route asks for a version as
// the body's version does.
func requestFingerprint(flow string, sel registry.Selector, inputs json.RawMessage) string {
	parts := []string{"invoke", flow, "tag=" + sel.Tag, "version=" + strconv.Itoa(sel.Version)}
	if sel.StickyKey != "" {
		// Only when given, so keys recorded before sticky keys still match.
		parts = append(parts, "sticky="+sel.StickyKey)
	}
	return registry.Fingerprint(parts, inputs)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) newID() string {
	if s.NewID != nil {
		return s.NewID()
	}
	return NewExecID()
}

func (s *Service) timeout() int {
	if s.TimeoutSeconds > 0 {
		return s.TimeoutSeconds
	}
	return DefaultTimeoutSeconds
}

func (s *Service) maxBundleBytes() int64 { return s.BundleLimits.WithDefaults().Compressed }

// DefaultTimeoutSeconds bounds a run when the service sets none (Lambda's maximum).
const DefaultTimeoutSeconds = 900

// NewExecID returns a new execution id: "ex_" and a lowercase ULID, so ids
// sort by creation time and are valid Step Functions execution names.
func NewExecID() string {
	return "ex_" + strings.ToLower(ulid.MustNew(ulid.Now(), rand.Reader).String())
}
