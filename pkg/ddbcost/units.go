package ddbcost

// Unit sizes: a read unit covers 4 KB of item, a write unit 1 KB
// (read-write-operations.html).
const (
	ReadUnitBytes  = 4096
	WriteUnitBytes = 1024
)

// ReadUnits is what reading bytes of items in one request costs: the size
// rounded up to the next 4 KB (at least one unit: reading nothing still
// costs the minimum), half for an eventually consistent read, twice for a
// transactional one.
func ReadUnits(bytes int, consistent, transactional bool) float64 {
	units := float64(max(1, ceilDiv(bytes, ReadUnitBytes)))
	switch {
	case transactional:
		return 2 * units
	case !consistent:
		return units / 2
	}
	return units
}

// WriteUnits is what writing an item of bytes costs (for an update or a
// delete, the larger of its sizes before and after): the size rounded up to
// the next 1 KB, at least one unit, twice in a transaction.
func WriteUnits(bytes int, transactional bool) float64 {
	units := float64(max(1, ceilDiv(bytes, WriteUnitBytes)))
	if transactional {
		return 2 * units
	}
	return units
}

func ceilDiv(n, d int) int { return (n + d - 1) / d }
