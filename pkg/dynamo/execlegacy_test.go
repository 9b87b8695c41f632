package dynamo_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kitaru/deployments/pkg/registry"
)

// putLegacyExecution writes an execution as builds before sharding did, with
// raw SDK calls: the record without listing_layout, a full listing copy in
// the flow's partition (with inputs of 300 KB, so a query of that partition
// is cut by DynamoDB's 1 MB page after 3 copies), a running item in one of 16 shards and, with a key,
// the idempotency item in the flow's partition.
func putLegacyExecution(t *testing.T, f *fixture, flow, execID, idemKey string, started time.Time) {
	t.Helper()
	const runningTime = "2006-01-02T15:04:05.000000000Z07:00"
	record := map[string]any{
		"PK": "P#" + project + "#E#" + execID, "SK": "EXEC", "project": project, "exec_id": execID, "flow": flow,
		"version": 1, "snapshot": registry.SnapshotName(flow, 1), "selector_tag": "stable", "status": "running",
		"inputs": `{"doc":"` + strings.Repeat("x", 300<<10) + `"}`, "started_at": started, "invoked_by": "old-build", "idempotency_key": idemKey,
	}
	listing := maps.Clone(record)
	listing["PK"], listing["SK"] = "P#"+project+"#F#"+flow, "X#"+execID
	h := fnv.New32a()
	h.Write([]byte(execID))
	running := map[string]any{
		"PK": fmt.Sprintf("RUNNING#%02d", h.Sum32()%16), "SK": started.UTC().Format(runningTime) + "#" + project + "#" + execID,
		"project": project, "exec_id": execID, "flow": flow, "version": 1, "started_at": started,
	}
	items := []map[string]any{record, listing, running}
	if idemKey != "" {
		sum := sha256.Sum256([]byte(idemKey))
		items = append(items, map[string]any{
			"PK": "P#" + project + "#F#" + flow, "SK": "I#" + hex.EncodeToString(sum[:]),
			"exec_id": execID, "expires_at": time.Now().Add(time.Hour).Unix(),
		})
	}
	for _, it := range items {
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: av}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExecutionsWrittenBeforeShardingKeepWorking: executions an earlier build
// recorded (copy and key in the flow's partition, running item in one of 16
// shards) list among new ones newest first, their idempotency key still
// replays, and they finish and leave the running index like new ones.
func TestExecutionsWrittenBeforeShardingKeepWorking(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			const flow = "migrated"
			started := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
			var ids []string
			for i := range 14 {
				id := fmt.Sprintf("ex_01legacy%016d", i)
				ids = append(ids, id)
				at := started.Add(time.Duration(i) * time.Second)
				if i%2 == 1 {
					putLegacyExecution(t, f, flow, id, fmt.Sprintf("old-key-%d", i), at)
					continue
				}
				ex := registry.Execution{Project: project, ExecID: id, Flow: flow, Version: 1, Snapshot: registry.SnapshotName(flow, 1),
					Status: registry.StatusRunning, StartedAt: at}
				if _, _, err := f.store.CreateExecution(ctx, ex); err != nil {
					t.Fatal(err)
				}
			}
			slices.Reverse(ids)

			for _, limit := range []int{2, 5, registry.MaxPageSize} {
				t.Run(fmt.Sprintf("old and new executions list together, newest first, in pages of %d", limit), func(t *testing.T) {
					listAll(t, f, flow, limit, ids)
				})
			}
			t.Run("an old idempotency key still names its execution", func(t *testing.T) {
				again := registry.Execution{Project: project, ExecID: "ex_01legacy9999999999999999", Flow: flow, Version: 1,
					Snapshot: registry.SnapshotName(flow, 1), Status: registry.StatusRunning, IdempotencyKey: "old-key-3"}
				got, created, err := f.store.CreateExecution(ctx, again)
				if err != nil || created || got.ExecID != "ex_01legacy0000000000000003" {
					t.Fatalf("got %s created=%v err=%v, want the old execution", got.ExecID, created, err)
				}
			})
			t.Run("an old execution finishes, lists finished and leaves the running index", func(t *testing.T) {
				const old = "ex_01legacy0000000000000005"
				done, finished, err := f.store.FinishExecution(ctx, project, old, registry.Outcome{Status: registry.StatusCompleted, Result: []byte(`{"ok":true}`)})
				if err != nil || !finished || done.Status != registry.StatusCompleted {
					t.Fatalf("finish: %+v finished=%v err=%v", done, finished, err)
				}
				p, err := f.store.ListExecutionsBy(ctx, project, flow, registry.ExecutionFilter{Status: registry.StatusCompleted}, registry.PageRequest{})
				if err != nil || len(p.Items) != 1 || p.Items[0].ExecID != old || string(p.Items[0].Result) != `{"ok":true}` {
					t.Fatalf("completed executions %+v, %v", p.Items, err)
				}
				if left := overdueIDs(t, f); slices.Contains(left, old) || len(left) != len(ids)-1 {
					t.Fatalf("running index holds %v", left)
				}
			})
		})
	}
}

// listAll pages through a flow's executions and wants exactly ids, in order.
func listAll(t *testing.T, f *fixture, flow string, limit int, ids []string) {
	t.Helper()
	var got []string
	token := ""
	for range len(ids) + 1 {
		p, err := f.store.ListExecutions(ctx, project, flow, registry.PageRequest{Limit: limit, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range p.Items {
			got = append(got, x.ExecID)
		}
		if token = p.NextToken; token == "" {
			break
		}
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("listed %v, want %v", got, ids)
	}
}
