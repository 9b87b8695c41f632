package registry_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// pageOfExecutions is a list answer as the executions route sends it: 100
// executions with 4 KiB results each.
func pageOfExecutions() registry.Page[registry.Execution] {
	result := json.RawMessage(`{"text":"` + strings.Repeat("x", 4<<10) + `"}`)
	p := registry.Page[registry.Execution]{}
	for range 100 {
		p.Items = append(p.Items, registry.Execution{Project: "p", ExecID: "ex_01", Flow: "f", Version: 3, Status: registry.StatusCompleted,
			Inputs: json.RawMessage(`{"a":1}`), Result: result, StartedAt: time.Now()})
	}
	return p
}

// BenchmarkEncodeExecutionsPage: the cost of the wire's MarshalJSON
// methods (nil maps and lists sent as {} and []) on a large answer.
func BenchmarkEncodeExecutionsPage(b *testing.B) {
	p := pageOfExecutions()
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(p)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}
