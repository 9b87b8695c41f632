// Command benchtable reads `go test -bench` output on stdin and prints the
// issue-15 table: for every BenchmarkRow… result, each figure that has a
// floor measured in the same run ("floor-<unit>") with the floor, the ratio
// and, when the benchmark states one, the target: "target-<unit>" on the
// figure, or "target-x-floor" on the ratio of each of its figures. Rates
// ("…/s") meet a target from above, everything else from below.
//
// Usage (what scripts/bench.sh does):
//
//	go test -run '^$' -bench . ./pkg/... | tee out.txt
//	go run ./scripts/benchtable < out.txt
package main

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"text/tabwriter"

	"golang.org/x/perf/benchfmt"
)

// row is one figure of one benchmark.
type row struct {
	bench, unit  string
	value, floor float64
	// target bounds the figure, or the ratio when onRatio.
	target                          float64
	hasTarget, onRatio, lowerBetter bool
}

func main() {
	rows, err := read(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(rows) == 0 {
		fmt.Println("benchtable: no BenchmarkRow results (run the benchmarks with -bench Row)")
		return
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "row\tfigure\tfloor\tfigure/floor\ttarget\t")
	for _, r := range rows {
		target := ""
		if r.hasTarget {
			got, what := r.value, ""
			if r.onRatio {
				got, what = r.value/r.floor, "× floor "
			}
			verdict := "met"
			if (r.lowerBetter && got > r.target) || (!r.lowerBetter && got < r.target) {
				verdict = "MISSED"
			}
			target = fmt.Sprintf("%s %s %s%s", cmpWord(r.lowerBetter), num(r.target), what, verdict)
		}
		fmt.Fprintf(w, "%s\t%s %s\t%s\t%s\t%s\t\n", r.bench, num(r.value), r.unit, num(r.floor), num(r.value/r.floor), target)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func cmpWord(lowerBetter bool) string {
	if lowerBetter {
		return "≤"
	}
	return "≥"
}

// read collects the rows of every BenchmarkRow result, in input order.
func read(in io.Reader) ([]row, error) {
	var rows []row
	r := benchfmt.NewReader(in, "stdin")
	for r.Scan() {
		res, ok := r.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		if !strings.HasPrefix(string(res.Name.Base()), "Row") {
			continue
		}
		name := strings.TrimPrefix(procs.ReplaceAllString(string(res.Name), ""), "Row")
		values := map[string]float64{}
		for _, v := range res.Values {
			values[v.Unit] = v.Value
		}
		for _, v := range res.Values {
			floor, ok := values["floor-"+v.Unit]
			if !ok || strings.HasPrefix(v.Unit, "floor-") || strings.HasPrefix(v.Unit, "target-") {
				continue
			}
			target, hasTarget := values["target-"+v.Unit]
			ratioTarget, onRatio := values["target-x-floor"]
			if !hasTarget && onRatio {
				target, hasTarget = ratioTarget, true
			} else {
				onRatio = false
			}
			rows = append(rows, row{bench: name, unit: v.Unit, value: v.Value, floor: floor,
				target: target, hasTarget: hasTarget, onRatio: onRatio, lowerBetter: lowerIsBetter(v.Unit)})
		}
	}
	return rows, r.Err()
}

// procs is the -GOMAXPROCS suffix go test adds to a benchmark's name.
var procs = regexp.MustCompile(`-\d+$`)

// lowerIsBetter: rates ("…/s") are better higher, everything else (times,
// sizes, round trips) lower.
func lowerIsBetter(unit string) bool { return !strings.HasSuffix(unit, "/s") }

// num prints a figure with three significant digits, or as an integer.
func num(v float64) string {
	if v >= 100 || v == float64(int64(v)) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.3g", v)
}
