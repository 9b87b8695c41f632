package throttle

import (
	"sync"

	"github.com/kitaru/deployments/pkg/ddbcost"
)

// sizes prices requests with pkg/ddbcost, filling in the item sizes the
// wire does not show (the item an UpdateItem or DeleteItem changes, the
// item a PutItem replaces, the item a read will return) from the last size
// seen of each item: learned from puts, ALL_NEW answers and reads. An
// item never seen counts as empty (one unit). docs/scale-sim.md states the
// approximation.
type sizes struct {
	mu   sync.Mutex
	last map[string]int
}

func newSizes() *sizes { return &sizes{last: map[string]int{}} }

func itemKey(a ddbcost.Access) string { return a.Table + "\x00" + a.PK + "\x00" + a.SK }

// price analyses one request (resp nil: before it is sent) and returns its
// accesses priced with the sizes known; an answered request teaches the
// sizes it shows.
func (z *sizes) price(op string, req, resp []byte) ([]ddbcost.Access, error) {
	call, err := ddbcost.Analyze(op, req, resp)
	if err != nil {
		return nil, err
	}
	z.mu.Lock()
	for i := range call.Accesses {
		a := &call.Accesses[i]
		k := itemKey(*a)
		switch {
		case a.SizeUnknown && a.Write:
			a.Before = max(a.Before, z.last[k])
		case a.SizeUnknown:
			a.Bytes = max(a.Bytes, z.last[k])
		}
	}
	z.mu.Unlock()
	if resp != nil {
		z.learn(call.Accesses)
	}
	ddbcost.Price(&call)
	return call.Accesses, nil
}

// learn keeps the sizes accesses of a served request show: what a write
// left (when the wire shows it) and what a read found.
func (z *sizes) learn(accesses []ddbcost.Access) {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, a := range accesses {
		switch {
		case a.Write && a.After > 0:
			z.last[itemKey(a)] = a.After
		case !a.Write && !a.SizeUnknown && a.SK != "":
			z.last[itemKey(a)] = a.Bytes
		}
	}
}

// answerShowsSizes reports whether op's answer can show a size its request
// does not: reads, and an update's ALL_NEW item. For the other writes the
// request says all there is, and the answer is not analysed again.
func answerShowsSizes(op string) bool {
	switch op {
	case "PutItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems":
		return false
	}
	return true
}
