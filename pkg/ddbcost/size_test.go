package ddbcost_test

import (
	"encoding/json"
	"testing"

	"github.com/kitaru/deployments/pkg/ddbcost"
)

// TestItemSizeFollowsTheDocumentedRules checks each rule of
// CapacityUnitCalculations.html on an item small enough to count by hand.
func TestItemSizeFollowsTheDocumentedRules(t *testing.T) {
	cases := []struct {
		name string
		item string
		want int
	}{
		{"a string is its name's bytes plus its UTF-8 bytes", `{"PK": {"S": "abc"}}`, 2 + 3},
		{"a string counts UTF-8 bytes, not characters", `{"n": {"S": "über"}}`, 1 + 5},
		{"a number is 1 byte per two significant digits plus 1", `{"Score": {"N": "123"}}`, 5 + 2 + 1},
		{"a number's leading and trailing zeros are trimmed", `{"x": {"N": "-000.0012300"}}`, 1 + 2 + 1},
		{"zero is 1 byte", `{"x": {"N": "0"}}`, 1 + 1},
		{"a binary is its raw length, not its base64", `{"bin": {"B": "aGVsbG8="}}`, 3 + 5},
		{"a boolean is 1 byte", `{"ok": {"BOOL": true}}`, 2 + 1},
		{"a null is 1 byte", `{"ok": {"NULL": true}}`, 2 + 1},
		{"an empty map is 3 bytes", `{"m": {"M": {}}}`, 1 + 3},
		{"an empty list is 3 bytes", `{"l": {"L": []}}`, 1 + 3},
		{"a list is 3 bytes plus 1 per element plus the elements", `{"l": {"L": [{"S": "ab"}, {"N": "1"}]}}`, 1 + 3 + (1 + 2) + (1 + 2)},
		{"a map element counts its name", `{"m": {"M": {"a": {"S": "xy"}}}}`, 1 + 3 + (1 + 1 + 2)},
		{"a string set is the sum of its members", `{"s": {"SS": ["a", "bc"]}}`, 1 + 3},
		{"attributes add up", `{"PK": {"S": "P#p#F#f"}, "SK": {"S": "FLOW"}, "rev": {"N": "42"}}`, (2 + 7) + (2 + 4) + (3 + 2)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var item ddbcost.Item
			if err := json.Unmarshal([]byte(c.item), &item); err != nil {
				t.Fatal(err)
			}
			got, err := ddbcost.ItemSize(item)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("ItemSize(%s) = %d, want %d", c.item, got, c.want)
			}
		})
	}
}

func TestItemSizeRefusesWhatIsNotAnAttributeValue(t *testing.T) {
	if _, err := ddbcost.ItemSize(ddbcost.Item{"x": json.RawMessage(`{"Q": "1"}`)}); err == nil {
		t.Error("an unknown type was sized")
	}
}

// TestUnitsMatchTheDocumentedExamples takes the worked examples of
// read-write-operations.html.
func TestUnitsMatchTheDocumentedExamples(t *testing.T) {
	const kb = 1024
	cases := []struct {
		name string
		got  float64
		want float64
	}{
		{"a 3,500-byte item costs what a 4 KB one does", ddbcost.ReadUnits(3500, true, false), 1},
		{"an 8 KB strongly consistent read takes 2 units", ddbcost.ReadUnits(8*kb, true, false), 2},
		{"an 8 KB eventually consistent read takes 1 unit", ddbcost.ReadUnits(8*kb, false, false), 1},
		{"an 8 KB transactional read takes 4 units", ddbcost.ReadUnits(8*kb, true, true), 4},
		{"a 10 KB read is rounded up to 12 KB", ddbcost.ReadUnits(10*kb, true, false), 3},
		{"reading nothing still takes a unit", ddbcost.ReadUnits(0, true, false), 1},
		{"reading nothing eventually consistent takes half a unit", ddbcost.ReadUnits(0, false, false), 0.5},
		{"a 1.5 KB write takes 2 units", ddbcost.WriteUnits(1536, false), 2},
		{"a 500-byte write takes 1 unit", ddbcost.WriteUnits(500, false), 1},
		{"a 500-byte transactional write takes 2 units", ddbcost.WriteUnits(500, true), 2},
		{"a 390 KB write takes 390 units", ddbcost.WriteUnits(390*kb, false), 390},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %v units, want %v", c.got, c.want)
			}
		})
	}
}
