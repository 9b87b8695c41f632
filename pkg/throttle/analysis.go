package throttle

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
)

// This file is a minimal analysis of DynamoDB JSON requests, enough to
// charge budgets; pkg/ddbcost (issue 20's request recorder) is the full
// one, and this one should give way to it when both are on main.

// Key attribute names of the registry table (pkg/dynamo).
const (
	pkAttr = "PK"
	skAttr = "SK"
)

type attrValue = map[string]json.RawMessage
type item = map[string]attrValue

// analyzer turns requests into accesses. Sizes a request does not show
// (the item an UpdateItem or DeleteItem changes, the item a read will
// return) come from sizes: the last size seen of each item, learned from
// puts, ALL_NEW answers and reads. An item never seen counts as 1 byte (one
// unit): the approximation is documented in docs/scale-sim.md.
type analyzer struct {
	mu    sync.Mutex
	sizes map[string]int
}

func newAnalyzer() *analyzer { return &analyzer{sizes: map[string]int{}} }

func itemKey(table, pk, sk string) string { return table + "\x00" + pk + "\x00" + sk }

func (z *analyzer) size(table, pk, sk string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.sizes[itemKey(table, pk, sk)]
}

func (z *analyzer) learn(table, pk, sk string, n int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if n < 0 {
		delete(z.sizes, itemKey(table, pk, sk))
		return
	}
	z.sizes[itemKey(table, pk, sk)] = n
}

// wire is the union of the request and answer fields the analysis reads.
type wire struct {
	TableName      string
	Key, Item      item
	ConsistentRead bool
	ReturnValues   string
	// Query
	KeyConditionExpression    string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues item
	// Batch and transactional requests
	RequestItems  map[string]json.RawMessage
	TransactItems []map[string]wire
	// Answers
	Attributes item
	Items      []item
	Responses  json.RawMessage
}

// analyze returns the accesses of one request. With resp nil it estimates
// from the request and the size cache (before sending); with resp it
// counts what the answer shows and updates the cache.
func (z *analyzer) analyze(op string, req, resp []byte) ([]Access, error) {
	var in, out wire
	if err := json.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("decode %s request: %w", op, err)
	}
	answered := resp != nil
	if answered {
		if err := json.Unmarshal(resp, &out); err != nil {
			return nil, fmt.Errorf("decode %s answer: %w", op, err)
		}
	}
	switch op {
	case "GetItem":
		pk, sk := keyOf(in.Key)
		n := z.size(in.TableName, pk, sk)
		if answered {
			n = itemSize(out.Item)
			if out.Item == nil {
				n = 0
			}
			z.learn(in.TableName, pk, sk, n)
		}
		return []Access{readAccess(in.TableName, pk, sk, n, in.ConsistentRead, false)}, nil
	case "PutItem", "UpdateItem", "DeleteItem":
		return []Access{z.write(op, in.TableName, in, out, answered, false)}, nil
	case "Query":
		return []Access{z.query(in, out, answered)}, nil
	case "BatchGetItem":
		return z.batchGet(in, resp, answered)
	case "BatchWriteItem":
		return z.batchWrite(in)
	case "TransactWriteItems":
		var acc []Access
		for _, ti := range in.TransactItems {
			for kind, w := range ti {
				op := map[string]string{"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheck"}[kind]
				acc = append(acc, z.write(op, w.TableName, w, wire{}, answered, true))
			}
		}
		return acc, nil
	case "TransactGetItems":
		var acc []Access
		for _, ti := range in.TransactItems {
			w := ti["Get"]
			pk, sk := keyOf(w.Key)
			acc = append(acc, readAccess(w.TableName, pk, sk, z.size(w.TableName, pk, sk), true, true))
		}
		return acc, nil
	}
	return nil, nil
}

// write is one written item: the larger of its size before and after.
func (z *analyzer) write(op, table string, in, out wire, answered, transactional bool) Access {
	var pk, sk string
	if op == "PutItem" {
		pk, sk = keyOf(in.Item)
	} else {
		pk, sk = keyOf(in.Key)
	}
	before := z.size(table, pk, sk)
	after := before
	switch op {
	case "PutItem":
		after = itemSize(in.Item)
	case "UpdateItem":
		if out.Attributes != nil && in.ReturnValues == "ALL_NEW" {
			after = itemSize(out.Attributes)
		}
	case "DeleteItem":
		after = 0
	}
	if answered {
		switch op {
		case "DeleteItem":
			z.learn(table, pk, sk, -1)
		case "PutItem", "UpdateItem":
			z.learn(table, pk, sk, after)
		}
	}
	n := max(before, after)
	units := math.Max(1, math.Ceil(float64(n)/1024))
	if transactional {
		units *= 2
	}
	return Access{Table: table, PK: pk, SK: sk, Write: true, Transactional: transactional, Bytes: n, Units: units}
}

// readAccess costs one read of an item of n bytes (0: missing).
func readAccess(table, pk, sk string, n int, consistent, transactional bool) Access {
	units := math.Max(1, math.Ceil(float64(n)/4096))
	switch {
	case transactional:
		units *= 2
	case !consistent:
		units /= 2
	}
	return Access{Table: table, PK: pk, SK: sk, Consistent: consistent || transactional, Transactional: transactional, Bytes: n, Units: units}
}

// query is one Query, charged to the partition key it reads (SK empty):
// the summed size of what it returns, rounded up to 4 KB.
func (z *analyzer) query(in, out wire, answered bool) Access {
	pk := queryPartition(in)
	n := 0
	if answered {
		for _, it := range out.Items {
			n += itemSize(it)
		}
	}
	return readAccess(in.TableName, pk, "", n, in.ConsistentRead, false)
}

// queryPartition finds the value the key condition binds the partition
// key to: "PK = :pk" or "#pk = :pk".
func queryPartition(in wire) string {
	for _, clause := range strings.Split(in.KeyConditionExpression, " AND ") {
		name, value, ok := strings.Cut(clause, "=")
		if !ok {
			continue
		}
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if n, ok := in.ExpressionAttributeNames[name]; ok {
			name = n
		}
		if name == pkAttr {
			return stringOf(in.ExpressionAttributeValues[value])
		}
	}
	return ""
}

func (z *analyzer) batchGet(in wire, resp []byte, answered bool) ([]Access, error) {
	var out struct{ Responses map[string][]item }
	if answered {
		if err := json.Unmarshal(resp, &out); err != nil {
			return nil, fmt.Errorf("decode BatchGetItem answer: %w", err)
		}
	}
	var acc []Access
	for table, raw := range in.RequestItems {
		var ka struct {
			Keys           []item
			ConsistentRead bool
		}
		if err := json.Unmarshal(raw, &ka); err != nil {
			return nil, fmt.Errorf("decode BatchGetItem keys: %w", err)
		}
		got := map[string]int{}
		for _, it := range out.Responses[table] {
			pk, sk := keyOf(it)
			got[pk+"\x00"+sk] = itemSize(it)
		}
		for _, k := range ka.Keys {
			pk, sk := keyOf(k)
			n := z.size(table, pk, sk)
			if answered {
				n = got[pk+"\x00"+sk]
				z.learn(table, pk, sk, n)
			}
			acc = append(acc, readAccess(table, pk, sk, n, ka.ConsistentRead, false))
		}
	}
	return acc, nil
}

func (z *analyzer) batchWrite(in wire) ([]Access, error) {
	var acc []Access
	for table, raw := range in.RequestItems {
		var reqs []struct {
			PutRequest    *struct{ Item item }
			DeleteRequest *struct{ Key item }
		}
		if err := json.Unmarshal(raw, &reqs); err != nil {
			return nil, fmt.Errorf("decode BatchWriteItem requests: %w", err)
		}
		for _, r := range reqs {
			if r.PutRequest != nil {
				acc = append(acc, z.write("PutItem", table, wire{Item: r.PutRequest.Item}, wire{}, false, false))
			} else if r.DeleteRequest != nil {
				acc = append(acc, z.write("DeleteItem", table, wire{Key: r.DeleteRequest.Key}, wire{}, false, false))
			}
		}
	}
	return acc, nil
}

func keyOf(it item) (pk, sk string) { return stringOf(it[pkAttr]), stringOf(it[skAttr]) }

func stringOf(v attrValue) string {
	var s string
	if raw, ok := v["S"]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s
}

// itemSize is an item's size by DynamoDB's rules: per attribute, the
// UTF-8 length of its name plus the size of its value.
func itemSize(it item) int {
	n := 0
	for name, v := range it {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize follows "Item sizes and formats" (Developer Guide): strings
// and binaries by length, numbers about one byte per two digits plus one,
// booleans and nulls one byte, lists and maps three bytes plus one per
// element plus their elements (and a map's names).
func valueSize(v attrValue) int {
	for kind, raw := range v {
		switch kind {
		case "S":
			var s string
			_ = json.Unmarshal(raw, &s)
			return len(s)
		case "N":
			var s string
			_ = json.Unmarshal(raw, &s)
			return numberSize(s)
		case "B":
			var s string
			_ = json.Unmarshal(raw, &s)
			return base64.StdEncoding.DecodedLen(len(s))
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			var ss []string
			_ = json.Unmarshal(raw, &ss)
			n := 0
			for _, s := range ss {
				switch kind {
				case "NS":
					n += numberSize(s)
				case "BS":
					n += base64.StdEncoding.DecodedLen(len(s))
				default:
					n += len(s)
				}
			}
			return n
		case "L":
			var l []attrValue
			_ = json.Unmarshal(raw, &l)
			n := 3
			for _, e := range l {
				n += 1 + valueSize(e)
			}
			return n
		case "M":
			var m item
			_ = json.Unmarshal(raw, &m)
			return 3 + len(m) + itemSize(m)
		}
	}
	return 0
}

func numberSize(s string) int {
	digits := 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	return (digits+1)/2 + 1
}
