package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

var _ registry.ExecutionStore = (*Store)(nil)

// Execution keys (docs/data-model.md, "Executions"). The record lives in its
// own partition so GetExecution needs only the id. A small listing copy (what
// the filters need, no documents) lives in one of listingShards partitions of
// the flow, chosen by a hash of the exec id, so a flow's invocations spread
// their writes over listingShards partitions instead of the flow's own, and a
// flow's executions list with one query per shard merged newest first (exec
// ids are time-sortable ULIDs). An invoke's idempotency item has a partition
// of its own. Builds before sharding kept a full listing copy and the
// idempotency items in the flow's partition: those are still read (legacy*).
const (
	skExec              = "EXEC"
	skExecListingPrefix = "X#"
	// skListingEnd sorts after every listing copy's sort key ('$' follows '#').
	skListingEnd = "X$"
	// listingShards: one flow at 3,000 invocations/s writes each copy twice
	// (create, finish), transactionally, under 1 KB: 4 WCU per invocation,
	// 12,000 WCU/s, 375 per shard against DynamoDB's 1,000 per partition.
	listingShards = 32
	// shardedListing is the record's listing_layout when its copy is in a
	// listing shard; records of earlier builds have none (copy in the flow's
	// partition, running item in one of legacyRunningShards).
	shardedListing            = 2
	skExecIdempotency         = "IDEM"
	legacyIdempotencySKPrefix = "I#"
	// attrExpiresAt is the table's TTL attribute (epoch seconds). Local engines
	// never expire items, so conditions treat an expired item as absent.
	attrExpiresAt = "expires_at"
	// Running index (docs/data-model.md, "Finding lost executions"): one
	// item per running execution in one of runningShards partitions, sorted
	// by start time, written by the create transaction and deleted by the
	// finish transaction. The reaper queries each shard for items started
	// before a cutoff: no Scan, no GSI. Like the API key partitions, these are
	// operator partitions (the reaper serves every project), not a project's.
	pkRunningPrefix = "RUNNING#"
	// runningShards: 10,000 invocations/s across all flows put and delete one
	// item each, transactionally, under 1 KB: 40,000 WCU/s, 312 per shard.
	// A multiple of legacyRunningShards, so the shards of earlier builds
	// (0..15) are among those the reaper queries.
	runningShards       = 128
	legacyRunningShards = 16
	// runningTimeLayout is RFC 3339 in UTC with a fixed nine-digit fraction,
	// so the sort keys compare in time order as strings.
	runningTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"
)

func execPK(project, execID string) string { return "P#" + project + "#E#" + execID }
func execListingSK(execID string) string   { return skExecListingPrefix + execID }

// shardOf spreads exec ids over n shards by FNV-1a.
func shardOf(execID string, n uint32) uint32 {
	h := fnv.New32a()
	h.Write([]byte(execID))
	return h.Sum32() % n
}

// listingPK is the partition of one listing shard of a flow. Flow names
// hold no '#', so it is never another flow's partition.
func listingPK(project, flow string, shard uint32) string {
	return fmt.Sprintf("%s#X#%02d", flowPK(project, flow), shard)
}

// listingKey is the key of an execution's listing copy.
func listingKey(project, flow, execID string) map[string]types.AttributeValue {
	return key(listingPK(project, flow, shardOf(execID, listingShards)), execListingSK(execID))
}

// legacyListingKey is where builds before sharding kept the listing copy.
func legacyListingKey(project, flow, execID string) map[string]types.AttributeValue {
	return key(flowPK(project, flow), execListingSK(execID))
}

func idempotencyHash(idempotencyKey string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return hex.EncodeToString(sum[:])
}

// idempotencyKeyOf is the key of an invoke's idempotency item: a partition
// per (project, flow, key).
func idempotencyKeyOf(project, flow, idempotencyKey string) map[string]types.AttributeValue {
	return key(flowPK(project, flow)+"#I#"+idempotencyHash(idempotencyKey), skExecIdempotency)
}

// legacyIdempotencyKeyOf is where builds before sharding kept it.
func legacyIdempotencyKeyOf(project, flow, idempotencyKey string) map[string]types.AttributeValue {
	return key(flowPK(project, flow), legacyIdempotencySKPrefix+idempotencyHash(idempotencyKey))
}

// runningPK spreads running executions over runningShards partitions by a
// hash of the exec id, so no partition takes every invoke's write.
func runningPK(execID string) string { return runningShardPK(shardOf(execID, runningShards)) }

func runningShardPK(shard uint32) string { return fmt.Sprintf("%s%02d", pkRunningPrefix, shard) }

func runningSK(project, execID string, startedAt time.Time) string {
	return startedAt.UTC().Format(runningTimeLayout) + "#" + project + "#" + execID
}

func runningKey(e registry.Execution) map[string]types.AttributeValue {
	return key(runningPK(e.ExecID), runningSK(e.Project, e.ExecID, e.StartedAt))
}

// legacyRunningKey is where builds before sharding put the running item.
func legacyRunningKey(e registry.Execution) map[string]types.AttributeValue {
	return key(runningShardPK(shardOf(e.ExecID, legacyRunningShards)), runningSK(e.Project, e.ExecID, e.StartedAt))
}

// execItem is an execution record (and, in builds before sharding, its
// listing copy under the flow's key). JSON documents are kept as text so
// numbers stay exact; empty optional fields are omitted (no empty maps are
// ever stored).
type execItem struct {
	PK             string              `dynamodbav:"PK"`
	SK             string              `dynamodbav:"SK"`
	Project        string              `dynamodbav:"project"`
	ExecID         string              `dynamodbav:"exec_id"`
	Flow           string              `dynamodbav:"flow"`
	Version        int                 `dynamodbav:"version"`
	Snapshot       string              `dynamodbav:"snapshot"`
	SelectorTag    string              `dynamodbav:"selector_tag,omitempty"`
	SelectorVer    int                 `dynamodbav:"selector_version,omitempty"`
	RouteRevision  int64               `dynamodbav:"route_revision,omitempty"`
	Status         registry.ExecStatus `dynamodbav:"status"`
	Inputs         string              `dynamodbav:"inputs"`
	Result         string              `dynamodbav:"result,omitempty"`
	ResultRef      string              `dynamodbav:"result_ref,omitempty"`
	Error          *execErrorItem      `dynamodbav:"error,omitempty"`
	StartedAt      time.Time           `dynamodbav:"started_at"`
	EndedAt        *time.Time          `dynamodbav:"ended_at,omitempty"`
	InvokedBy      string              `dynamodbav:"invoked_by,omitempty"`
	IdempotencyKey string              `dynamodbav:"idempotency_key,omitempty"`
	// ListingLayout is shardedListing on records whose listing copy and
	// running item this build's keys name; absent on earlier builds' records.
	ListingLayout int `dynamodbav:"listing_layout,omitempty"`
	// StartClaims is the latest start claim (ClaimStart); 0 on records no
	// replay claimed.
	StartClaims int `dynamodbav:"start_claims,omitempty"`
}

// startClaim is the record's latest start claim: 1, the invocation that
// recorded it, until a replay claims the start.
func (x execItem) startClaim() int { return max(1, x.StartClaims) }

// listingKeys are the keys of the record's listing copy and running item.
func (x execItem) listingKeys(e registry.Execution) (listing, running map[string]types.AttributeValue) {
	if x.ListingLayout == shardedListing {
		return listingKey(e.Project, e.Flow, e.ExecID), runningKey(e)
	}
	return legacyListingKey(e.Project, e.Flow, e.ExecID), legacyRunningKey(e)
}

// listingItem is an execution's listing copy: what orders and filters a
// flow's executions. It stays under maxCopySize, so it costs its shard 2 WCU
// per transactional write: a complete copy (the whole execution, when that
// fits) answers the list by itself; otherwise the copy leaves the documents
// to the record, which the list reads. Earlier builds' full copies decode
// into it too (not complete: their records answer).
type listingItem struct {
	PK          string              `dynamodbav:"PK"`
	SK          string              `dynamodbav:"SK"`
	ExecID      string              `dynamodbav:"exec_id"`
	Version     int                 `dynamodbav:"version"`
	SelectorTag string              `dynamodbav:"selector_tag,omitempty"`
	SelectorVer int                 `dynamodbav:"selector_version,omitempty"`
	Status      registry.ExecStatus `dynamodbav:"status"`
	StartedAt   time.Time           `dynamodbav:"started_at"`
	EndedAt     *time.Time          `dynamodbav:"ended_at,omitempty"`
	Complete    bool                `dynamodbav:"complete,omitempty"`
	// item is the copy as read, the execution itself when Complete.
	item map[string]types.AttributeValue
}

// maxCopySize bounds a listing copy: one KB, one write unit.
const maxCopySize = 1024

// listingCopy is the listing copy of e: the whole execution marked
// complete when it fits in maxCopySize, else only the listing fields.
func listingCopy(e registry.Execution) (map[string]types.AttributeValue, error) {
	k := listingKey(e.Project, e.Flow, e.ExecID)
	if full, ok, err := completeCopy(e); err != nil || ok {
		return full, err
	}
	item, err := attributevalue.MarshalMap(listingItem{
		PK: stringAttr(k, attrPK), SK: stringAttr(k, attrSK), ExecID: e.ExecID, Version: e.Version,
		SelectorTag: e.Selector.Tag, SelectorVer: e.Selector.Version, Status: e.Status, StartedAt: e.StartedAt, EndedAt: e.EndedAt,
	})
	if err != nil {
		return nil, fmt.Errorf("encode listing copy: %w", err)
	}
	return item, nil
}

// completeCopy is e as a complete listing copy, ok=false when it does not
// fit in maxCopySize.
func completeCopy(e registry.Execution) (map[string]types.AttributeValue, bool, error) {
	x := newExecItem(e)
	k := listingKey(e.Project, e.Flow, e.ExecID)
	x.PK, x.SK, x.ListingLayout = stringAttr(k, attrPK), stringAttr(k, attrSK), 0
	if e.Error != nil {
		x.Error = new(newExecErrorItem(*e.Error))
	}
	x.Result, x.ResultRef, x.EndedAt = string(e.Result), e.ResultRef, e.EndedAt
	item, err := attributevalue.MarshalMap(x)
	if err != nil {
		return nil, false, fmt.Errorf("encode listing copy: %w", err)
	}
	item["complete"] = &types.AttributeValueMemberBOOL{Value: true}
	return item, itemSize(item) < maxCopySize, nil
}

// matches tells whether the execution this copy lists passes filter.
func (l listingItem) matches(filter registry.ExecutionFilter) bool {
	return filter.Matches(registry.Execution{
		Version: l.Version, Selector: registry.Selector{Tag: l.SelectorTag, Version: l.SelectorVer},
		Status: l.Status, StartedAt: l.StartedAt, EndedAt: l.EndedAt,
	})
}

type execErrorItem struct {
	Type      string         `dynamodbav:"type"`
	Message   string         `dynamodbav:"message"`
	Traceback string         `dynamodbav:"traceback,omitempty"`
	Details   map[string]any `dynamodbav:"details,omitempty"`
}

func newExecErrorItem(e registry.ExecError) execErrorItem {
	x := execErrorItem{Type: e.Type, Message: e.Message, Traceback: e.Traceback}
	if len(e.Details) > 0 { // omitempty still writes an empty, non-nil map
		x.Details = e.Details
	}
	return x
}

func (x execErrorItem) execError() *registry.ExecError {
	e := &registry.ExecError{Type: x.Type, Message: x.Message, Traceback: x.Traceback}
	if len(x.Details) > 0 {
		e.Details = x.Details
	}
	return e
}

// idempotencyItem maps (project, flow, key) to the execution it created
// until ExpiresAt, and names the request that created it by its fingerprint
// (empty on items written before fingerprints were kept: those match any).
type idempotencyItem struct {
	PK          string `dynamodbav:"PK"`
	SK          string `dynamodbav:"SK"`
	ExecID      string `dynamodbav:"exec_id"`
	ExpiresAt   int64  `dynamodbav:"expires_at"`
	Fingerprint string `dynamodbav:"fingerprint,omitempty"`
}

// runningItem says that an execution was recorded running; it names the
// execution so the reaper needs no other read to find it.
type runningItem struct {
	PK        string    `dynamodbav:"PK"`
	SK        string    `dynamodbav:"SK"`
	Project   string    `dynamodbav:"project"`
	ExecID    string    `dynamodbav:"exec_id"`
	Flow      string    `dynamodbav:"flow"`
	Version   int       `dynamodbav:"version"`
	StartedAt time.Time `dynamodbav:"started_at"`
}

func newExecItem(e registry.Execution) execItem {
	return execItem{
		PK: execPK(e.Project, e.ExecID), SK: skExec,
		Project: e.Project, ExecID: e.ExecID, Flow: e.Flow, Version: e.Version, Snapshot: e.Snapshot,
		SelectorTag: e.Selector.Tag, SelectorVer: e.Selector.Version, RouteRevision: e.RouteRevision, Status: e.Status,
		Inputs: string(e.Inputs), StartedAt: e.StartedAt, InvokedBy: e.InvokedBy, IdempotencyKey: e.IdempotencyKey,
		ListingLayout: shardedListing,
	}
}

func (x execItem) execution() registry.Execution {
	e := registry.Execution{
		Project: x.Project, ExecID: x.ExecID, Flow: x.Flow, Version: x.Version, Snapshot: x.Snapshot,
		Selector: registry.Selector{Tag: x.SelectorTag, Version: x.SelectorVer}, RouteRevision: x.RouteRevision, Status: x.Status,
		Inputs: json.RawMessage(x.Inputs), ResultRef: x.ResultRef, StartedAt: x.StartedAt, EndedAt: x.EndedAt,
		InvokedBy: x.InvokedBy, IdempotencyKey: x.IdempotencyKey,
	}
	if x.Result != "" {
		e.Result = json.RawMessage(x.Result)
	}
	if x.Error != nil {
		e.Error = x.Error.execError()
	}
	return e
}

func decodeExec(item map[string]types.AttributeValue) (execItem, error) {
	var x execItem
	if err := attributevalue.UnmarshalMap(item, &x); err != nil {
		return execItem{}, fmt.Errorf("decode execution: %w", err)
	}
	return x, nil
}

// CreateExecution writes the record, its listing copy, (with a key) the
// idempotency item and the running index item in one transaction: one round
// trip. When only the
// idempotency item's condition fails, the key is taken and live: the
// execution it names is returned with created=false, or idempotency_mismatch
// when the key came with another request fingerprint. Besides invalid_argument
// it returns conflict when e.ExecID is already recorded.
func (s *Store) CreateExecution(ctx context.Context, e registry.Execution) (registry.Execution, bool, error) {
	now := s.now().UTC()
	if err := registry.ValidateNewExecution(&e, now); err != nil {
		return registry.Execution{}, false, err
	}
	if e.IdempotencyKey != "" {
		// A key an earlier build recorded in the flow's partition stays
		// live for its window; those items are never written again, so an
		// eventually consistent read (half a read unit) sees them as they are.
		k := legacyIdempotencyKeyOf(e.Project, e.Flow, e.IdempotencyKey)
		got, found, err := s.executionForKey(ctx, e.Project, e.Flow, k, false, e.RequestFingerprint, now)
		if err != nil || found {
			return got, false, err
		}
	}
	t, err := s.planCreateExecution(e, now)
	if err != nil {
		return registry.Execution{}, false, err
	}
	const idempotencyAt = 2 // index of the idempotency put in t
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		out, err := s.send(ctx, t)
		if err != nil {
			return registry.Execution{}, false, engineError(fmt.Sprintf("record execution %s of %s", e.ExecID, e.Flow), err)
		}
		switch {
		case out.failedAt(idempotencyAt):
			k := idempotencyKeyOf(e.Project, e.Flow, e.IdempotencyKey)
			got, found, err := s.executionForKey(ctx, e.Project, e.Flow, k, true, e.RequestFingerprint, now)
			if err != nil || found {
				return got, false, err
			}
			// The key's item expired or vanished since the transaction ran: try again.
		case out.failedAt(0):
			return registry.Execution{}, false, registry.ExecutionExists(e.ExecID)
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return registry.Execution{}, false, err
			}
		default:
			return newExecItem(e).execution(), true, nil
		}
	}
	return registry.Execution{}, false, errExecContended
}

var errExecContended = registry.Errorf(registry.CodeUnavailable, "the execution could not be recorded because of concurrent requests; retry in a moment")

func (s *Store) planCreateExecution(e registry.Execution, now time.Time) (*txn, error) {
	t, err := s.planCreateRecord(e, now)
	if err != nil {
		return nil, err
	}
	running, err := attributevalue.MarshalMap(runningItem{
		PK: runningPK(e.ExecID), SK: runningSK(e.Project, e.ExecID, e.StartedAt),
		Project: e.Project, ExecID: e.ExecID, Flow: e.Flow, Version: e.Version, StartedAt: e.StartedAt,
	})
	if err != nil {
		return nil, fmt.Errorf("encode running index item: %w", err)
	}
	if err := t.put(running, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// planCreateRecord appends the record, its listing copy and the idempotency item.
func (s *Store) planCreateRecord(e registry.Execution, now time.Time) (*txn, error) {
	record, err := attributevalue.MarshalMap(newExecItem(e))
	if err != nil {
		return nil, fmt.Errorf("encode execution: %w", err)
	}
	listing, err := listingCopy(e)
	if err != nil {
		return nil, err
	}
	t := &txn{table: s.table}
	fresh := expression.AttributeNotExists(expression.Name(attrPK))
	if err := t.put(record, &fresh); err != nil {
		return nil, err
	}
	if err := t.put(listing, nil); err != nil {
		return nil, err
	}
	if e.IdempotencyKey == "" {
		return t, nil
	}
	k := idempotencyKeyOf(e.Project, e.Flow, e.IdempotencyKey)
	idem, err := attributevalue.MarshalMap(idempotencyItem{
		PK: stringAttr(k, attrPK), SK: stringAttr(k, attrSK),
		ExecID: e.ExecID, ExpiresAt: now.Add(registry.IdempotencyWindow).Unix(), Fingerprint: e.RequestFingerprint,
	})
	if err != nil {
		return nil, fmt.Errorf("encode idempotency key: %w", err)
	}
	// An expired item counts as absent: TTL deletion is lazy on AWS and never
	// happens on local engines.
	free := fresh.Or(expression.Name(attrExpiresAt).LessThan(expression.Value(now.Unix())))
	if err := t.put(idem, &free); err != nil {
		return nil, err
	}
	return t, nil
}

// executionForKey returns the execution the live idempotency item at k
// names; found=false when the key is free (absent or expired). A key that
// names another request than fingerprint is an idempotency_mismatch.
func (s *Store) executionForKey(ctx context.Context, project, flow string, k map[string]types.AttributeValue, consistent bool, fingerprint string, now time.Time) (registry.Execution, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: k, ConsistentRead: aws.Bool(consistent)})
	if err != nil {
		return registry.Execution{}, false, engineError(fmt.Sprintf("read idempotency key of %s", flow), err)
	}
	if len(out.Item) == 0 {
		return registry.Execution{}, false, nil
	}
	var it idempotencyItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return registry.Execution{}, false, fmt.Errorf("decode idempotency key of %s: %w", flow, err)
	}
	if it.ExpiresAt < now.Unix() {
		return registry.Execution{}, false, nil
	}
	if it.Fingerprint != "" && fingerprint != "" && it.Fingerprint != fingerprint {
		return registry.Execution{}, false, registry.ExecutionKeyMismatch(flow, it.ExecID)
	}
	e, err := s.GetExecution(ctx, project, it.ExecID)
	if err != nil {
		return registry.Execution{}, false, engineError(fmt.Sprintf("read execution %s of idempotency key", it.ExecID), err)
	}
	return e, true, nil
}

// GetExecution is one consistent GetItem.
func (s *Store) GetExecution(ctx context.Context, project, execID string) (registry.Execution, error) {
	x, err := s.getExecItem(ctx, project, execID)
	if err != nil {
		return registry.Execution{}, err
	}
	return x.execution(), nil
}

func (s *Store) getExecItem(ctx context.Context, project, execID string) (execItem, error) {
	if err := registry.ValidateExecID(execID); err != nil {
		return execItem{}, err
	}
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(execPK(project, execID), skExec), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return execItem{}, engineError(fmt.Sprintf("read execution %s", execID), err)
	}
	if len(out.Item) == 0 {
		return execItem{}, registry.ExecutionNotFound(execID)
	}
	return decodeExec(out.Item)
}

// ListExecutions lists a flow's executions newest first (ListExecutionsBy
// without a filter). A flow without executions (or that does not exist) has
// an empty list.
func (s *Store) ListExecutions(ctx context.Context, project, flow string, page registry.PageRequest) (registry.Page[registry.Execution], error) {
	return s.ListExecutionsBy(ctx, project, flow, registry.ExecutionFilter{}, page)
}

// FinishExecution reads the record (it names the flow and the layout, which
// key the listing copy and running item), then updates the record and its
// listing copy under `status = running` and deletes its running index item,
// in one transaction: two round trips. Whoever commits first
// wins; a loser gets the winner's execution with finished=false. Besides
// not_found and invalid_argument it returns payload_too_large when the result
// does not fit in the record (store it in the bucket and pass ResultRef).
func (s *Store) FinishExecution(ctx context.Context, project, execID string, o registry.Outcome) (registry.Execution, bool, error) {
	if err := o.Validate(); err != nil {
		return registry.Execution{}, false, err
	}
	x, err := s.getExecItem(ctx, project, execID)
	if err != nil {
		return registry.Execution{}, false, err
	}
	cur := x.execution()
	if cur.Status.Terminal() {
		return cur, false, nil
	}
	if err := o.CheckFits(cur); err != nil {
		return registry.Execution{}, false, err
	}
	if o.At.IsZero() {
		o.At = s.now()
	}
	t, err := s.planFinishExecution(x, cur, o)
	if err != nil {
		return registry.Execution{}, false, err
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		out, err := s.send(ctx, t)
		if err != nil {
			return registry.Execution{}, false, engineError(fmt.Sprintf("finish execution %s", execID), err)
		}
		switch {
		case out.any():
			// Another finish committed first; report what it recorded.
			got, err := s.GetExecution(ctx, project, execID)
			return got, false, err
		case out.conflict:
			if err := backoff(ctx, attempt); err != nil {
				return registry.Execution{}, false, err
			}
		default:
			return cur.Finished(o), true, nil
		}
	}
	return registry.Execution{}, false, errExecContended
}

// planFinishExecution updates [0] the record (x, read as cur) and [1] its
// listing copy, each under `status = running`, and [2] deletes the running
// index item (unconditionally: it exists exactly while the record is
// running). Only non-empty outcome fields are set. The copy takes the
// outcome while it stays complete (it was, and the finished execution fits);
// otherwise only the status and end, and it is marked not complete (the
// record answers).
func (s *Store) planFinishExecution(x execItem, cur registry.Execution, o registry.Outcome) (*txn, error) {
	isRunning := expression.Name("status").Equal(expression.Value(registry.StatusRunning))
	t := &txn{table: s.table}
	if err := t.update(key(execPK(cur.Project, cur.ExecID), skExec), finishUpdate(o, true), isRunning); err != nil {
		return nil, err
	}
	listing, running := x.listingKeys(cur)
	copyUpd := finishUpdate(o, false)
	if x.ListingLayout == shardedListing {
		_, wasComplete, err := completeCopy(cur)
		if err != nil {
			return nil, err
		}
		_, staysComplete, err := completeCopy(cur.Finished(o))
		if err != nil {
			return nil, err
		}
		if wasComplete && staysComplete {
			copyUpd = finishUpdate(o, true)
		} else {
			// Cleared on every other copy, so no copy is ever marked complete
			// without its outcome.
			copyUpd = copyUpd.Set(expression.Name("complete"), expression.Value(false))
		}
	}
	if err := t.update(listing, copyUpd, isRunning); err != nil {
		return nil, err
	}
	t.items = append(t.items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table), Key: running}})
	return t, nil
}

// finishUpdate sets the status and end and, with outcome, the outcome's
// non-empty fields. (Each call builds its own: a builder's Set adds to the
// map it shares with its copies.)
func finishUpdate(o registry.Outcome, outcome bool) expression.UpdateBuilder {
	upd := expression.Set(expression.Name("status"), expression.Value(o.Status)).
		Set(expression.Name("ended_at"), expression.Value(o.At.UTC()))
	if !outcome {
		return upd
	}
	if len(o.Result) > 0 {
		upd = upd.Set(expression.Name("result"), expression.Value(string(o.Result)))
	}
	if o.ResultRef != "" {
		upd = upd.Set(expression.Name("result_ref"), expression.Value(o.ResultRef))
	}
	if o.Error != nil {
		upd = upd.Set(expression.Name("error"), expression.Value(newExecErrorItem(*o.Error)))
	}
	return upd
}

// maxRunningPage bounds one query of a running shard.
const maxRunningPage = 100

// RunningStartedBefore lists up to limit executions of every project that
// the running index says are still running and started before the cutoff:
// one consistent Query per shard (runningShards), each reading only overdue items, plus
// one per further page of 100. The executions carry project, exec_id, flow,
// version, started_at and status running only; the record may have ended
// since (FinishExecution tells). Errors: invalid_argument (limit < 1).
func (s *Store) RunningStartedBefore(ctx context.Context, before time.Time, limit int) ([]registry.Execution, error) {
	if limit < 1 {
		return nil, registry.Errorf(registry.CodeInvalidArgument, "limit must be at least 1, not %d", limit)
	}
	cutoff := before.UTC().Format(runningTimeLayout)
	var found []registry.Execution
	for shard := uint32(0); shard < runningShards && len(found) < limit; shard++ {
		kc := expression.Key(attrPK).Equal(expression.Value(runningShardPK(shard))).And(expression.Key(attrSK).LessThan(expression.Value(cutoff)))
		expr, err := expression.NewBuilder().WithKeyCondition(kc).Build()
		if err != nil {
			return nil, fmt.Errorf("build running query: %w", err)
		}
		var start map[string]types.AttributeValue
		for len(found) < limit {
			out, err := s.db.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(s.table), KeyConditionExpression: expr.KeyCondition(),
				ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
				ConsistentRead: aws.Bool(true), Limit: aws.Int32(int32(min(maxRunningPage, limit-len(found)))), ExclusiveStartKey: start,
			})
			if err != nil {
				return nil, engineError("list running executions", err)
			}
			for _, item := range out.Items {
				var r runningItem
				if err := attributevalue.UnmarshalMap(item, &r); err != nil {
					return nil, fmt.Errorf("decode running index item: %w", err)
				}
				found = append(found, registry.Execution{
					Project: r.Project, ExecID: r.ExecID, Flow: r.Flow, Version: r.Version,
					StartedAt: r.StartedAt, Status: registry.StatusRunning,
				})
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			start = out.LastEvaluatedKey
		}
	}
	return found, nil
}

// ReapExecution finishes a running execution found by RunningStartedBefore
// with o, like FinishExecution (one GetItem and one transaction, under
// `status = running`, so a finish that commits first wins and this changes
// nothing). When the record has already ended or is gone, it deletes the
// stale index item instead (one BatchWriteItem) so the next pass does not find
// it again. It returns the stored execution and whether o was recorded.
func (s *Store) ReapExecution(ctx context.Context, found registry.Execution, o registry.Outcome) (registry.Execution, bool, error) {
	got, finished, err := s.FinishExecution(ctx, found.Project, found.ExecID, o)
	switch {
	case registry.CodeOf(err) == registry.CodeNotFound:
	case err != nil || finished:
		return got, finished, err
	}
	// The entry may sit in either numbering: found does not say which shard
	// it came from, and a batch of both keys is still one request.
	stale := []map[string]types.AttributeValue{runningKey(found)}
	if legacy := legacyRunningKey(found); stringAttr(legacy, attrPK) != stringAttr(stale[0], attrPK) {
		stale = append(stale, legacy)
	}
	if derr := s.batchDelete(ctx, stale); derr != nil {
		return got, false, engineError(fmt.Sprintf("forget running execution %s", found.ExecID), derr)
	}
	return got, false, err
}
