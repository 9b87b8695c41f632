package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRowsPairFiguresWithTheirFloorsAndTargets(t *testing.T) {
	in := `goos: linux
BenchmarkDeploy/minidyn-2   	100	 5000 ns/op	 2.0 roundtrips/op
BenchmarkRowResolveHTTP-2   	  1	 6e9 ns/op	 8308 floor-req/s	 651.7 req/s	 0.0784 x-floor	 0.3 target-x-floor
BenchmarkRowDeploy64/dynamodb-local-2	1	 9e8 ns/op	 2.3 trips/deploy	 2 floor-trips/deploy	 2.2 target-trips/deploy	 40 ms	 20 floor-ms
`
	rows, err := read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{bench: "ResolveHTTP", unit: "req/s", value: 651.7, floor: 8308, target: 0.3, hasTarget: true, onRatio: true},
		{bench: "Deploy64/dynamodb-local", unit: "trips/deploy", value: 2.3, floor: 2, target: 2.2, hasTarget: true, lowerBetter: true},
		{bench: "Deploy64/dynamodb-local", unit: "ms", value: 40, floor: 20, lowerBetter: true},
	}
	if diff := cmp.Diff(want, rows, cmp.AllowUnexported(row{})); diff != "" {
		t.Fatalf("rows (-want +got):\n%s", diff)
	}
}
