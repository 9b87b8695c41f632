package dynamo_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kitaru/deployments/pkg/registry"
)

// partitionItems reads every item of one partition.
func partitionItems(t *testing.T, f *fixture, pk string) []map[string]types.AttributeValue {
	t.Helper()
	out, err := f.db.Query(ctx, &dynamodb.QueryInput{
		TableName: aws.String(f.table), KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Items
}

// transactWCU is what a transactional write of an item of size bytes costs:
// two write units per started KB.
func transactWCU(size int) int { return 2 * ((size + 1023) / 1024) }

// TestAnInvokeWritesNothingIntoTheFlowsPartition: creating and finishing an
// execution with large inputs and a large result (an idempotency key too)
// leaves the flow's partition empty; its listing copy stays under 1 KB, so
// it costs its shard 2 write units per transactional write. The log shows the
// write units per partition of one invoke and finish, and what the full copy
// in the flow's partition cost before sharding (the record's size).
func TestAnInvokeWritesNothingIntoTheFlowsPartition(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			const flow = "busy"
			inputs, _ := json.Marshal(map[string]string{"doc": strings.Repeat("i", 200<<10)})
			ex := registry.Execution{Project: project, ExecID: "ex_01partition000000000000001", Flow: flow, Version: 1,
				Snapshot: registry.SnapshotName(flow, 1), Selector: registry.Selector{Tag: "stable"}, Status: registry.StatusRunning,
				Inputs: inputs, IdempotencyKey: "client-key", InvokedBy: "tester"}
			if _, created, err := f.store.CreateExecution(ctx, ex); err != nil || !created {
				t.Fatalf("create: created=%v err=%v", created, err)
			}
			recordPK := "P#" + project + "#E#" + ex.ExecID
			created := itemSize(partitionItems(t, f, recordPK)[0])
			result, _ := json.Marshal(map[string]string{"answer": strings.Repeat("r", 150<<10)})
			if _, finished, err := f.store.FinishExecution(ctx, project, ex.ExecID, registry.Outcome{Status: registry.StatusCompleted, Result: result}); err != nil || !finished {
				t.Fatalf("finish: finished=%v err=%v", finished, err)
			}
			ended := itemSize(partitionItems(t, f, recordPK)[0])

			if got := partitionItems(t, f, "P#"+project+"#F#"+flow); len(got) != 0 {
				t.Fatalf("the flow's partition holds %d items after an invoke", len(got))
			}
			var copies []map[string]types.AttributeValue
			for shard := range 32 {
				copies = append(copies, partitionItems(t, f, fmt.Sprintf("P#%s#F#%s#X#%02d", project, flow, shard))...)
			}
			if len(copies) != 1 || itemSize(copies[0]) >= 1024 {
				t.Fatalf("listing copies %d, first of %d bytes; want one under 1 KB", len(copies), itemSize(copies[0]))
			}
			copySize := itemSize(copies[0])
			p, err := f.store.ListExecutions(ctx, project, flow, registry.PageRequest{})
			if err != nil || len(p.Items) != 1 || string(p.Items[0].Result) != string(result) || string(p.Items[0].Inputs) != string(inputs) {
				t.Fatalf("the list does not answer the record's documents: %d items, %v", len(p.Items), err)
			}
			t.Logf("one invoke+finish, transactional WCU per partition: record %d+%d, listing shard %d+%d (copy of %d bytes), running shard 2+2, idempotency item 2; "+
				"before sharding the flow's partition took %d+%d (full copy) + 2 (idempotency item)",
				transactWCU(created), transactWCU(ended), transactWCU(copySize), transactWCU(copySize), copySize,
				transactWCU(created), transactWCU(ended))
		})
	}
}

// TestExecutionsOfOneShardListInFullPages: a page reads each listing shard
// for about three times its share, so executions whose ids all hash to one
// shard make that shard stop early; the page reads it further and is still
// full, newest first.
func TestExecutionsOfOneShardListInFullPages(t *testing.T) {
	var ids []string
	for i := 0; len(ids) < 12; i++ {
		id := fmt.Sprintf("ex_01skewed%016d", i)
		h := fnv.New32a()
		h.Write([]byte(id))
		if h.Sum32()%32 == 7 {
			ids = append(ids, id)
		}
	}
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			for _, id := range ids {
				ex := registry.Execution{Project: project, ExecID: id, Flow: "skewed", Version: 1,
					Snapshot: registry.SnapshotName("skewed", 1), Status: registry.StatusRunning}
				if _, _, err := f.store.CreateExecution(ctx, ex); err != nil {
					t.Fatal(err)
				}
			}
			if got := partitionItems(t, f, "P#"+project+"#F#skewed#X#07"); len(got) != len(ids) {
				t.Fatalf("shard 07 holds %d copies, want %d: the test's hash is not the store's", len(got), len(ids))
			}
			want := slices.Clone(ids)
			slices.Reverse(want)
			p, err := f.store.ListExecutions(ctx, project, "skewed", registry.PageRequest{Limit: 5})
			if err != nil || len(p.Items) != 5 || p.NextToken == "" {
				t.Fatalf("first page: %d items, next %q, %v; want 5 and a next page", len(p.Items), p.NextToken, err)
			}
			listAll(t, f, "skewed", 5, want)
		})
	}
}

// TestSmallExecutionsListFromTheirCopies: a copy holds the whole execution
// while it fits in 1 KB, so a list of small executions reads no record; a
// finish whose result makes it too large leaves the copy small and the record
// answers.
func TestSmallExecutionsListFromTheirCopies(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(t, e, false, nil)
			results := map[string]string{
				"ex_01small00000000000000001": `{"ok":true}`,
				"ex_01small00000000000000002": `{"doc":"` + strings.Repeat("r", 2048) + `"}`,
			}
			for id, result := range results {
				ex := registry.Execution{Project: project, ExecID: id, Flow: "small", Version: 1, Snapshot: registry.SnapshotName("small", 1),
					Status: registry.StatusRunning, Inputs: json.RawMessage(`{"n":1}`)}
				if _, _, err := f.store.CreateExecution(ctx, ex); err != nil {
					t.Fatal(err)
				}
				if _, _, err := f.store.FinishExecution(ctx, project, id, registry.Outcome{Status: registry.StatusCompleted, Result: json.RawMessage(result)}); err != nil {
					t.Fatal(err)
				}
			}
			complete := map[string]bool{}
			for shard := range 32 {
				for _, item := range partitionItems(t, f, fmt.Sprintf("P#%s#F#small#X#%02d", project, shard)) {
					if size := itemSize(item); size >= 1024 {
						t.Errorf("a copy of %d bytes", size)
					}
					c, _ := item["complete"].(*types.AttributeValueMemberBOOL)
					complete[item["exec_id"].(*types.AttributeValueMemberS).Value] = c != nil && c.Value
				}
			}
			if !complete["ex_01small00000000000000001"] || complete["ex_01small00000000000000002"] {
				t.Fatalf("complete copies %v, want only the one with the small result", complete)
			}
			page := func(limit int, token string, trips int64) registry.Page[registry.Execution] {
				t.Helper()
				before := f.trips.Load()
				p, err := f.store.ListExecutions(ctx, project, "small", registry.PageRequest{Limit: limit, Token: token})
				if err != nil {
					t.Fatal(err)
				}
				if got := f.trips.Load() - before; got != trips {
					t.Errorf("a page of %d took %d requests, want %d", limit, got, trips)
				}
				for _, x := range p.Items {
					if string(x.Result) != results[x.ExecID] || string(x.Inputs) != `{"n":1}` {
						t.Errorf("%s answers result %.40s", x.ExecID, x.Result)
					}
				}
				return p
			}
			if p := page(2, "", 33+1); len(p.Items) != 2 {
				t.Fatalf("listed %d, want both (the large one from its record: 1 batch read)", len(p.Items))
			}
			first := page(1, "", 33+1)
			if p := page(1, first.NextToken, 33); len(p.Items) != 1 || p.Items[0].ExecID != "ex_01small00000000000000001" {
				t.Fatalf("second page %+v, want the small one, from its copy alone", p.Items)
			}
		})
	}
}
