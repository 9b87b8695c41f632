package ddbcost_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/ddbcost"
)

// pad is an attribute that makes an item n bytes with the keys of padded.
func padded(pk, sk string, n int) string {
	base := len("PK") + len(pk) + len("SK") + len(sk) + len("pad")
	return fmt.Sprintf(`{"PK": {"S": %q}, "SK": {"S": %q}, "pad": {"S": %q}}`, pk, sk, strings.Repeat("x", n-base))
}

// TestAnalyzeReadsTheWire: each operation's items, keys and units, from the
// JSON the SDK sends and DynamoDB answers.
func TestAnalyzeReadsTheWire(t *testing.T) {
	const kb = 1024
	cases := []struct {
		name      string
		op        string
		req, resp string
		want      ddbcost.Call
	}{
		{
			name: "a consistent GetItem of a 3,500-byte item takes 1 read unit",
			op:   "GetItem",
			req:  `{"TableName": "t", "Key": {"PK": {"S": "P#p#F#f"}, "SK": {"S": "FLOW"}}, "ConsistentRead": true}`,
			resp: `{"Item": ` + padded("P#p#F#f", "FLOW", 3500) + `}`,
			want: ddbcost.Call{Op: "GetItem", Accesses: []ddbcost.Access{{Table: "t", PK: "P#p#F#f", SK: "FLOW", Consistent: true, Bytes: 3500, Units: 1}}},
		},
		{
			name: "an eventually consistent GetItem of a missing item takes half a unit",
			op:   "GetItem",
			req:  `{"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "b"}}}`,
			resp: `{}`,
			want: ddbcost.Call{Op: "GetItem", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "b", Units: 0.5}}},
		},
		{
			name: "BatchGetItem rounds each item up: 1.5 KB and 6.5 KB take 3 units",
			op:   "BatchGetItem",
			req:  `{"RequestItems": {"t": {"Keys": [{"PK": {"S": "a"}, "SK": {"S": "1"}}, {"PK": {"S": "b"}, "SK": {"S": "2"}}], "ConsistentRead": true}}}`,
			resp: `{"Responses": {"t": [` + padded("b", "2", 6656) + `, ` + padded("a", "1", 1536) + `]}}`,
			want: ddbcost.Call{Op: "BatchGetItem", Accesses: []ddbcost.Access{
				{Table: "t", PK: "a", SK: "1", Consistent: true, Bytes: 1536, Units: 1},
				{Table: "t", PK: "b", SK: "2", Consistent: true, Bytes: 6656, Units: 2}}},
		},
		{
			name: "a Query rounds up the sum of its items: 1.5 KB and 6.5 KB take 2 units",
			op:   "Query",
			req:  `{"TableName": "t", "KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": {"S": "a"}}, "ConsistentRead": true}`,
			resp: `{"Items": [` + padded("a", "1", 1536) + `, ` + padded("a", "2", 6656) + `], "Count": 2, "ScannedCount": 2}`,
			want: ddbcost.Call{Op: "Query", Accesses: []ddbcost.Access{
				{Table: "t", PK: "a", SK: "1", Consistent: true, Bytes: 1536, Units: 2 * 1536.0 / 8192},
				{Table: "t", PK: "a", SK: "2", Consistent: true, Bytes: 6656, Units: 2 * 6656.0 / 8192}}},
		},
		{
			name: "a Query that finds nothing still reads its partition",
			op:   "Query",
			req:  `{"TableName": "t", "KeyConditionExpression": "#pk = :pk AND begins_with(SK, :sk)", "ExpressionAttributeNames": {"#pk": "PK"}, "ExpressionAttributeValues": {":pk": {"S": "P#p#X"}, ":sk": {"S": "E#"}}}`,
			resp: `{"Items": [], "Count": 0, "ScannedCount": 0}`,
			want: ddbcost.Call{Op: "Query", Accesses: []ddbcost.Access{{Table: "t", PK: "P#p#X", Units: 0.5}}},
		},
		{
			name: "a PutItem shows its new item but not the one it replaces",
			op:   "PutItem",
			req:  `{"TableName": "t", "Item": ` + padded("a", "1", 1536) + `}`,
			resp: `{}`,
			want: ddbcost.Call{Op: "PutItem", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "1", Write: true, Bytes: 1536, After: 1536, SizeUnknown: true, Units: 2}}},
		},
		{
			name: "a DeleteItem returning the old item knows its size",
			op:   "DeleteItem",
			req:  `{"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "1"}}, "ReturnValues": "ALL_OLD"}`,
			resp: `{"Attributes": ` + padded("a", "1", 3*kb) + `}`,
			want: ddbcost.Call{Op: "DeleteItem", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "1", Write: true, Bytes: 3 * kb, Before: 3 * kb, Units: 3}}},
		},
		{
			name: "an UpdateItem whose condition failed still takes write units",
			op:   "UpdateItem",
			req:  `{"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "1"}}, "UpdateExpression": "SET v = :v"}`,
			resp: `{"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException", "message": "The conditional request failed"}`,
			want: ddbcost.Call{Op: "UpdateItem", Err: "ConditionalCheckFailedException", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "1", Write: true, SizeUnknown: true, Units: 1}}},
		},
		{
			name: "a throttled request takes no units",
			op:   "PutItem",
			req:  `{"TableName": "t", "Item": ` + padded("a", "1", 100) + `}`,
			resp: `{"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}`,
			want: ddbcost.Call{Op: "PutItem", Err: "ThrottlingException", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "1", Write: true, Bytes: 100, After: 100, SizeUnknown: true}}},
		},
		{
			name: "a transaction's items, condition checks included, take twice the units",
			op:   "TransactWriteItems",
			req: `{"TransactItems": [{"Put": {"TableName": "t", "Item": ` + padded("a", "1", 1536) + `}},
				{"ConditionCheck": {"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "FLOW"}}, "ConditionExpression": "rev = :r"}},
				{"Delete": {"TableName": "u", "Key": {"PK": {"S": "b"}, "SK": {"S": "2"}}}}]}`,
			resp: `{}`,
			want: ddbcost.Call{Op: "TransactWriteItems", Accesses: []ddbcost.Access{
				{Table: "t", PK: "a", SK: "1", Write: true, Transactional: true, Bytes: 1536, After: 1536, SizeUnknown: true, Units: 4},
				{Table: "t", PK: "a", SK: "FLOW", Write: true, Transactional: true, SizeUnknown: true, Units: 2},
				{Table: "u", PK: "b", SK: "2", Write: true, Transactional: true, SizeUnknown: true, Units: 2}}},
		},
		{
			name: "TransactGetItems reads consistently at twice the units",
			op:   "TransactGetItems",
			req:  `{"TransactItems": [{"Get": {"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "1"}}}}]}`,
			resp: `{"Responses": [{"Item": ` + padded("a", "1", 5000) + `}]}`,
			want: ddbcost.Call{Op: "TransactGetItems", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "1", Consistent: true, Transactional: true, Bytes: 5000, Units: 4}}},
		},
		{
			name: "BatchWriteItem leaves out what it did not process",
			op:   "BatchWriteItem",
			req:  `{"RequestItems": {"t": [{"PutRequest": {"Item": ` + padded("a", "1", 200) + `}}, {"DeleteRequest": {"Key": {"PK": {"S": "b"}, "SK": {"S": "2"}}}}]}}`,
			resp: `{"UnprocessedItems": {"t": [{"DeleteRequest": {"Key": {"PK": {"S": "b"}, "SK": {"S": "2"}}}}]}}`,
			want: ddbcost.Call{Op: "BatchWriteItem", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "1", Write: true, Bytes: 200, After: 200, SizeUnknown: true, Units: 1}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ddbcost.Analyze(c.op, []byte(c.req), []byte(c.resp))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("Analyze (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnalyzeRefusesAnOperationItCannotPrice(t *testing.T) {
	if _, err := ddbcost.Analyze("CreateTable", []byte(`{}`), nil); err == nil {
		t.Error("CreateTable was priced")
	}
}

// TestAnalyzeWithoutAnAnswerNamesTheItems: before the request is sent the
// sim can tell which items it will touch, sizes it cannot see flagged.
func TestAnalyzeWithoutAnAnswerNamesTheItems(t *testing.T) {
	got, err := ddbcost.Analyze("GetItem", []byte(`{"TableName": "t", "Key": {"PK": {"S": "a"}, "SK": {"S": "b"}}, "ConsistentRead": true}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ddbcost.Call{Op: "GetItem", Accesses: []ddbcost.Access{{Table: "t", PK: "a", SK: "b", Consistent: true, SizeUnknown: true, Units: 1}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Analyze (-want +got):\n%s", diff)
	}
}

func diffAccesses(want, got []ddbcost.Access) string { return cmp.Diff(want, got) }
