// Package ddbcost tells what a DynamoDB request costs: the items it reads
// and writes (table, partition and sort key), their sizes by DynamoDB's
// rules, and the read and write units charged for them. It reads requests
// and responses as they go over the wire (the JSON protocol,
// x-amz-json-1.0), so it needs no SDK types, and Recorder wraps a client's
// HTTP client to record every call a store makes.
//
// The rules are DynamoDB's documented ones:
//   - item sizes: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
//   - units per operation: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
package ddbcost

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Item is an item as the wire shows it: attribute name to a DynamoDB
// AttributeValue in its JSON form ({"S": "x"}, {"N": "1"}, {"M": {...}}…).
type Item map[string]json.RawMessage

// ItemSize is the size of item in bytes by DynamoDB's rules: the sum over
// its attributes of the name's UTF-8 length plus the value's size, where a
// string is its UTF-8 length, a number 1 byte per two significant digits
// plus 1, a binary its raw (decoded) length, a boolean or null 1 byte, and a
// list or map 3 bytes plus, per element, 1 byte and the element's size (a
// map element's name included). Sets, which the page does not detail, are
// the sum of their members. A value ItemSize cannot read is an error.
func ItemSize(item Item) (int, error) {
	size := 0
	for name, raw := range item {
		n, err := valueSize(raw)
		if err != nil {
			return 0, fmt.Errorf("attribute %q: %w", name, err)
		}
		size += len(name) + n
	}
	return size, nil
}

// valueSize is the size of one AttributeValue without its name.
func valueSize(raw json.RawMessage) (int, error) {
	typ, v, err := attributeValue(raw)
	if err != nil {
		return 0, err
	}
	switch typ {
	case "S":
		var s string
		err := json.Unmarshal(v, &s)
		return len(s), err
	case "N":
		var s string
		err := json.Unmarshal(v, &s)
		return numberSize(s), err
	case "B":
		var b string
		if err := json.Unmarshal(v, &b); err != nil {
			return 0, err
		}
		return base64.StdEncoding.DecodedLen(len(b)) - strings.Count(b, "="), nil
	case "BOOL", "NULL":
		return 1, nil
	case "SS", "NS", "BS":
		var members []string
		if err := json.Unmarshal(v, &members); err != nil {
			return 0, err
		}
		size := 0
		for _, m := range members {
			member, _ := json.Marshal(map[string]string{typ[:1]: m})
			n, err := valueSize(member)
			if err != nil {
				return 0, err
			}
			size += n
		}
		return size, nil
	case "L":
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return 0, err
		}
		size := 3
		for _, e := range list {
			n, err := valueSize(e)
			if err != nil {
				return 0, err
			}
			size += 1 + n
		}
		return size, nil
	case "M":
		var m Item
		if err := json.Unmarshal(v, &m); err != nil {
			return 0, err
		}
		n, err := ItemSize(m)
		return 3 + len(m) + n, err
	}
	return 0, fmt.Errorf("unknown AttributeValue type %q", typ)
}

// attributeValue splits an AttributeValue into its type and value.
func attributeValue(raw json.RawMessage) (typ string, v json.RawMessage, err error) {
	var av map[string]json.RawMessage
	if err := json.Unmarshal(raw, &av); err != nil || len(av) != 1 {
		return "", nil, fmt.Errorf("not an AttributeValue: %.60s", raw)
	}
	for k, val := range av {
		typ, v = k, val
	}
	return typ, v, nil
}

// numberSize is a number's size: its significant digits (leading and
// trailing zeros trimmed), 1 byte per two, plus 1.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.Trim(strings.Replace(s, ".", "", 1), "0")
	return (len(s)+1)/2 + 1
}
