package ddbcost

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Access is one item a call reads or writes, and what that costs.
type Access struct {
	// Table is the table's name; PK and SK the item's partition and sort
	// key values (SK is empty for a query that returned nothing: the
	// partition is still read).
	Table, PK, SK string
	// Write is set for a put, update, delete or a transaction's condition
	// check; Consistent for a strongly consistent read (transactional reads
	// are); Transactional for an item of TransactGetItems or
	// TransactWriteItems.
	Write, Consistent, Transactional bool
	// Bytes is the item's size by DynamoDB's rules (ItemSize); for a write,
	// the larger of Before and After.
	Bytes int
	// Before and After are a written item's sizes before and after the
	// write (0 where there is no item), where known.
	Before, After int
	// SizeUnknown is set when the wire does not show the size DynamoDB
	// charges for (an update's item, a put's overwritten item, a projected
	// read): Bytes and Units are then a lower bound, and the caller must
	// supply the size (Recorder does, by reading the item).
	SizeUnknown bool
	// Units is the read or write units the access costs. A query's units
	// are rounded up over all its items, then shared out by size, so the
	// accesses of one call add up to what DynamoDB charges.
	Units float64
}

// Call is one DynamoDB request and the items it touched.
type Call struct {
	// Op is the operation (GetItem, Query, TransactWriteItems…).
	Op string
	// Accesses are the items read and written, in request order.
	Accesses []Access
	// Attempt is the SDK's attempt number (1 for the first try); Recorder
	// sets it.
	Attempt int
	// Err is the error type DynamoDB answered (ConditionalCheckFailedException,
	// ThrottlingException…), empty on success. A failed condition still
	// consumes write units; other errors consume none.
	Err string
}

// Units sums the call's read and write units.
func (c Call) Units() (read, write float64) {
	for _, a := range c.Accesses {
		if a.Write {
			write += a.Units
		} else {
			read += a.Units
		}
	}
	return read, write
}

// Schema names a table's key attributes.
type Schema struct{ PK, SK string }

// DefaultSchema is the registry table's: string attributes PK and SK.
var DefaultSchema = Schema{PK: "PK", SK: "SK"}

// Analyze is DefaultSchema.Analyze.
func Analyze(op string, req, resp []byte) (Call, error) { return DefaultSchema.Analyze(op, req, resp) }

// Analyze reads one request of op (the name after "DynamoDB_20120810." in
// the X-Amz-Target header) and its response body (nil when it has not been
// answered yet: the accesses then come from the request alone, sizes the
// request does not show flagged SizeUnknown). It returns an error for an
// operation it does not know or a body it cannot read.
func (s Schema) Analyze(op string, req, resp []byte) (Call, error) {
	c := Call{Op: op}
	var out wireResponse
	if len(resp) > 0 {
		if err := json.Unmarshal(resp, &out); err != nil {
			return c, fmt.Errorf("%s response: %w", op, err)
		}
		if i := strings.LastIndex(out.Type, "#"); i >= 0 {
			c.Err = out.Type[i+1:]
		} else {
			c.Err = out.Type
		}
	}
	var in wireRequest
	if err := json.Unmarshal(req, &in); err != nil {
		return c, fmt.Errorf("%s request: %w", op, err)
	}
	answered := len(resp) > 0 && c.Err == ""
	var err error
	switch op {
	case "GetItem":
		c.Accesses, err = s.get(in.TableName, in.Key, in.ConsistentRead, false, in.ProjectionExpression != "", out.Item, answered)
	case "PutItem", "UpdateItem", "DeleteItem":
		c.Accesses, err = s.write(op, in.wireWrite, out.Attributes, in.ReturnValues, answered)
	case "Query", "Scan":
		c.Accesses, err = s.query(in, out, answered)
	case "BatchGetItem":
		c.Accesses, err = s.batchGet(in.RequestItems, out, answered)
	case "BatchWriteItem":
		c.Accesses, err = s.batchWrite(in.RequestItems, out)
	case "TransactGetItems":
		c.Accesses, err = s.transactGet(in.TransactItems, out, answered)
	case "TransactWriteItems":
		c.Accesses, err = s.transactWrite(in.TransactItems)
	default:
		return c, fmt.Errorf("ddbcost does not know what %s costs", op)
	}
	if err != nil {
		return c, fmt.Errorf("%s: %w", op, err)
	}
	Price(&c)
	return c, nil
}

// Price sets the units of c's accesses from their Bytes (after a caller
// supplied sizes the wire did not show): per item for single-item and batch
// operations, over the whole answer for a query or scan, nothing when the
// call failed on anything but a condition.
func Price(c *Call) {
	charged := c.Err == "" || c.Err == "ConditionalCheckFailedException" || c.Err == "TransactionCanceledException"
	if c.Op == "Query" || c.Op == "Scan" {
		sum := 0
		for _, a := range c.Accesses {
			sum += a.Bytes
		}
		for i := range c.Accesses {
			a := &c.Accesses[i]
			a.Units = 0
			if !charged {
				continue
			}
			total := ReadUnits(sum, a.Consistent, false)
			switch {
			case sum > 0:
				a.Units = total * float64(a.Bytes) / float64(sum)
			case i == 0:
				a.Units = total
			}
		}
		return
	}
	for i := range c.Accesses {
		a := &c.Accesses[i]
		if a.Write {
			a.Bytes = max(a.Before, a.After)
		}
		switch {
		case !charged:
			a.Units = 0
		case a.Write:
			a.Units = WriteUnits(a.Bytes, a.Transactional)
		default:
			a.Units = ReadUnits(a.Bytes, a.Consistent, a.Transactional)
		}
	}
}

// wireWrite is what PutItem, UpdateItem, DeleteItem and a transaction's
// items share.
type wireWrite struct {
	TableName string
	Key       Item
	Item      Item
}

type wireRequest struct {
	wireWrite
	ConsistentRead            bool
	ProjectionExpression      string
	FilterExpression          string
	KeyConditionExpression    string
	ExpressionAttributeNames  map[string]string
	ExpressionAttributeValues Item
	ReturnValues              string
	RequestItems              map[string]json.RawMessage
	TransactItems             []map[string]wireWrite
}

type wireResponse struct {
	Type             string `json:"__type"`
	Item             Item
	Attributes       Item
	Items            []Item
	Count            int
	ScannedCount     int
	Responses        json.RawMessage
	UnprocessedKeys  map[string]struct{ Keys []Item }
	UnprocessedItems map[string][]batchWrite
}

func (s Schema) keyOf(item Item) (pk, sk string, err error) {
	if pk, err = scalar(item[s.PK]); err != nil {
		return "", "", fmt.Errorf("partition key %s: %w", s.PK, err)
	}
	if raw, ok := item[s.SK]; ok {
		if sk, err = scalar(raw); err != nil {
			return "", "", fmt.Errorf("sort key %s: %w", s.SK, err)
		}
	}
	return pk, sk, nil
}

// scalar is a key value (S, N or B) as a string.
func scalar(raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", fmt.Errorf("missing")
	}
	typ, v, err := attributeValue(raw)
	if err != nil {
		return "", err
	}
	var str string
	if typ != "S" && typ != "N" && typ != "B" || json.Unmarshal(v, &str) != nil {
		return "", fmt.Errorf("not a key value: %.60s", raw)
	}
	return str, nil
}

func (s Schema) get(table string, key Item, consistent, transactional, projected bool, item Item, answered bool) ([]Access, error) {
	a := Access{Table: table, Consistent: consistent || transactional, Transactional: transactional, SizeUnknown: projected || !answered}
	var err error
	if a.PK, a.SK, err = s.keyOf(key); err != nil {
		return nil, err
	}
	if a.Bytes, err = ItemSize(item); err != nil {
		return nil, err
	}
	return []Access{a}, nil
}

// write is a put, update or delete; returned is what ReturnValues brought
// back (the old item for ALL_OLD, none when there was none; the new for
// ALL_NEW).
func (s Schema) write(op string, w wireWrite, returned Item, returnValues string, answered bool) ([]Access, error) {
	a, err := s.writeAccess(op, w, false)
	if err != nil {
		return nil, err
	}
	size, err := ItemSize(returned)
	if err != nil {
		return nil, err
	}
	switch {
	case !answered:
	case returnValues == "ALL_OLD":
		a.Before = size
		a.SizeUnknown = op == "UpdateItem" // the new item is not shown
	case returnValues == "ALL_NEW" && op == "UpdateItem":
		a.After = size // the old item, which may be larger, is not shown
	}
	return []Access{a}, nil
}

// writeAccess is the access of one write, sizes as far as the request
// shows them: a put's new item; a delete's and an update's item is not on
// the wire, nor is the item a put replaces.
func (s Schema) writeAccess(op string, w wireWrite, transactional bool) (Access, error) {
	a := Access{Table: w.TableName, Write: true, Transactional: transactional, SizeUnknown: true}
	key := w.Key
	if op == "PutItem" || op == "Put" {
		key = w.Item
		size, err := ItemSize(w.Item)
		if err != nil {
			return a, err
		}
		a.After = size
	}
	var err error
	a.PK, a.SK, err = s.keyOf(key)
	return a, err
}

// keyCondition matches one "name = :value" clause of a key condition.
var keyCondition = regexp.MustCompile(`^\(?\s*([#\w.]+)\s*=\s*(:\w+)\s*\)?$`)

func (s Schema) query(in wireRequest, out wireResponse, answered bool) ([]Access, error) {
	partial := in.ProjectionExpression != "" || in.FilterExpression != "" || out.ScannedCount > out.Count
	var accesses []Access
	for _, item := range out.Items {
		a := Access{Table: in.TableName, Consistent: in.ConsistentRead, SizeUnknown: partial}
		var err error
		if a.PK, a.SK, err = s.keyOf(item); err != nil {
			return nil, fmt.Errorf("%w (project the table's keys to have a query analysed)", err)
		}
		if a.Bytes, err = ItemSize(item); err != nil {
			return nil, err
		}
		accesses = append(accesses, a)
	}
	if len(accesses) > 0 {
		return accesses, nil
	}
	// Nothing returned (or not answered yet): the partition is still read.
	a := Access{Table: in.TableName, Consistent: in.ConsistentRead, SizeUnknown: partial || !answered}
	for clause := range strings.SplitSeq(in.KeyConditionExpression, " AND ") {
		m := keyCondition.FindStringSubmatch(strings.TrimSpace(clause))
		if m == nil {
			continue
		}
		if name := m[1]; name == s.PK || in.ExpressionAttributeNames[name] == s.PK {
			pk, err := scalar(in.ExpressionAttributeValues[m[2]])
			if err != nil {
				return nil, fmt.Errorf("key condition %s: %w", m[2], err)
			}
			a.PK = pk
		}
	}
	return []Access{a}, nil
}

type batchGet struct {
	Keys                 []Item
	ConsistentRead       bool
	ProjectionExpression string
}

func (s Schema) batchGet(requests map[string]json.RawMessage, out wireResponse, answered bool) ([]Access, error) {
	var found map[string][]Item
	if len(out.Responses) > 0 {
		if err := json.Unmarshal(out.Responses, &found); err != nil {
			return nil, err
		}
	}
	var accesses []Access
	for table, raw := range requests {
		var b batchGet
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		sizes := map[[2]string]int{}
		for _, item := range found[table] {
			pk, sk, err := s.keyOf(item)
			if err != nil {
				return nil, err
			}
			if sizes[[2]string{pk, sk}], err = ItemSize(item); err != nil {
				return nil, err
			}
		}
		unprocessed := map[[2]string]bool{}
		for _, key := range out.UnprocessedKeys[table].Keys {
			pk, sk, err := s.keyOf(key)
			if err != nil {
				return nil, err
			}
			unprocessed[[2]string{pk, sk}] = true
		}
		for _, key := range b.Keys {
			a := Access{Table: table, Consistent: b.ConsistentRead, SizeUnknown: b.ProjectionExpression != "" || !answered}
			var err error
			if a.PK, a.SK, err = s.keyOf(key); err != nil {
				return nil, err
			}
			if unprocessed[[2]string{a.PK, a.SK}] {
				continue
			}
			a.Bytes = sizes[[2]string{a.PK, a.SK}]
			accesses = append(accesses, a)
		}
	}
	return accesses, nil
}

type batchWrite struct {
	PutRequest    *struct{ Item Item }
	DeleteRequest *struct{ Key Item }
}

func (s Schema) batchWrite(requests map[string]json.RawMessage, out wireResponse) ([]Access, error) {
	var accesses []Access
	for table, raw := range requests {
		var writes []batchWrite
		if err := json.Unmarshal(raw, &writes); err != nil {
			return nil, err
		}
		unprocessed := map[string]bool{}
		for _, w := range out.UnprocessedItems[table] {
			b, _ := json.Marshal(w)
			unprocessed[string(b)] = true
		}
		for _, w := range writes {
			if b, _ := json.Marshal(w); unprocessed[string(b)] {
				continue
			}
			var a Access
			var err error
			switch {
			case w.PutRequest != nil:
				a, err = s.writeAccess("PutItem", wireWrite{TableName: table, Item: w.PutRequest.Item}, false)
			case w.DeleteRequest != nil:
				a, err = s.writeAccess("DeleteItem", wireWrite{TableName: table, Key: w.DeleteRequest.Key}, false)
			default:
				err = fmt.Errorf("a write request that is neither a put nor a delete")
			}
			if err != nil {
				return nil, err
			}
			accesses = append(accesses, a)
		}
	}
	return accesses, nil
}

func (s Schema) transactGet(items []map[string]wireWrite, out wireResponse, answered bool) ([]Access, error) {
	var found []struct{ Item Item }
	if len(out.Responses) > 0 {
		if err := json.Unmarshal(out.Responses, &found); err != nil {
			return nil, err
		}
	}
	var accesses []Access
	for i, ti := range items {
		g, ok := ti["Get"]
		if !ok {
			return nil, fmt.Errorf("item %d is not a Get", i)
		}
		var item Item
		if i < len(found) {
			item = found[i].Item
		}
		a, err := s.get(g.TableName, g.Key, true, true, false, item, answered)
		if err != nil {
			return nil, err
		}
		accesses = append(accesses, a...)
	}
	return accesses, nil
}

// transactWrite: every item of a transaction is written at twice the units
// of a plain write, a condition check too (it is part of the write).
func (s Schema) transactWrite(items []map[string]wireWrite) ([]Access, error) {
	var accesses []Access
	for i, ti := range items {
		if len(ti) != 1 {
			return nil, fmt.Errorf("item %d has %d actions", i, len(ti))
		}
		for action, w := range ti {
			switch action {
			case "Put", "Update", "Delete", "ConditionCheck":
			default:
				return nil, fmt.Errorf("item %d: unknown action %s", i, action)
			}
			a, err := s.writeAccess(action, w, true)
			if err != nil {
				return nil, err
			}
			accesses = append(accesses, a)
		}
	}
	return accesses, nil
}
