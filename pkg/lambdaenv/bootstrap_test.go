package lambdaenv_test

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// floor is the name of the aws-lambda-go hello in testdata that the
// bootstrap figures are compared with.
const floor = "hello"

// buildDir holds the bootstraps the tests and benchmarks of this package
// build; TestMain removes it.
var buildDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

type build struct {
	once sync.Once
	bins map[string]string
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

// bootstraps builds every Lambda main under functions/ and the hello floor
// for linux/goarch with scripts/build.sh's flags, once per test binary and
// architecture (one go build, so packages compile once), and returns the
// binaries by name.
func bootstraps(tb testing.TB, goarch string) map[string]string {
	tb.Helper()
	buildsMu.Lock()
	if buildDir == "" {
		dir, err := os.MkdirTemp("", "kitaru-bootstraps-")
		if err != nil {
			buildsMu.Unlock()
			tb.Fatal(err)
		}
		buildDir = dir
	}
	b := builds[goarch]
	if b == nil {
		b = &build{}
		builds[goarch] = b
	}
	buildsMu.Unlock()
	fns := slices.Sorted(maps.Keys(functionDeps(tb)))
	b.once.Do(func() {
		out := filepath.Join(buildDir, goarch) + string(filepath.Separator)
		args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out}
		for _, fn := range fns {
			args = append(args, "./functions/"+fn)
		}
		args = append(args, "./pkg/lambdaenv/testdata/"+floor)
		cmd := exec.Command("go", args...)
		cmd.Dir = "../.."
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = &buildError{err: err, output: msg}
			return
		}
		b.bins = map[string]string{}
		for _, name := range append(fns, floor) {
			b.bins[name] = filepath.Join(out, name)
		}
	})
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.bins
}

type buildError struct {
	err    error
	output []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.output) }

// hostBootstraps are the bootstraps built for this machine, to run their
// init; they are skipped where the Lambda OS is not the host's.
func hostBootstraps(tb testing.TB) map[string]string {
	tb.Helper()
	if runtime.GOOS != "linux" {
		tb.Skip("running a linux bootstrap needs a linux host")
	}
	return bootstraps(tb, runtime.GOARCH)
}

// initLine is one package's line of GODEBUG=inittrace=1.
var initLine = regexp.MustCompile(`(?m)^init (\S+) @\S+ ms, (\S+) ms clock, (\d+) bytes, (\d+) allocs$`)

// packageInit is what one package's init cost.
type packageInit struct {
	ms     float64
	bytes  int64
	allocs int64
}

// initTrace runs bin with GODEBUG=inittrace=1 and nothing else in its
// environment: it runs every package init, then fails its configuration
// (or, for the hello, finds no Lambda runtime API) and exits. It returns
// each package's init.
func initTrace(tb testing.TB, bin string) map[string]packageInit {
	tb.Helper()
	cmd := exec.Command(bin)
	cmd.Env = []string{"GODEBUG=inittrace=1"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run() // it exits 1: no Lambda environment
	inits := map[string]packageInit{}
	for _, m := range initLine.FindAllStringSubmatch(stderr.String(), -1) {
		ms, _ := strconv.ParseFloat(m[2], 64)
		b, _ := strconv.ParseInt(m[3], 10, 64)
		a, _ := strconv.ParseInt(m[4], 10, 64)
		inits[m[1]] = packageInit{ms: ms, bytes: b, allocs: a}
	}
	if len(inits) == 0 {
		tb.Fatalf("%s printed no inittrace lines:\n%s", bin, stderr.String())
	}
	return inits
}

// initMillis is, for each of bins, the least total package-init time over
// runs runs, taken in turns so that a busy spell of the machine does not
// fall on one binary's runs alone: noise only ever adds to a run.
// It also returns what each one's init allocates, in KiB, which the
// machine's load does not change.
func initMillis(tb testing.TB, bins map[string]string, runs int) (ms, kib map[string]float64) {
	tb.Helper()
	ms, kib = map[string]float64{}, map[string]float64{}
	for range runs {
		for name, bin := range bins {
			total, bytes := 0.0, int64(0)
			for _, p := range initTrace(tb, bin) {
				total += p.ms
				bytes += p.bytes
			}
			if v, ok := ms[name]; !ok || total < v {
				ms[name] = total
			}
			kib[name] = float64(bytes) / (1 << 10)
		}
	}
	return ms, kib
}

// maxInitBytes bounds what one of our packages may allocate in its init. A
// package-level regexp with a {0,127} repetition took 0.2 MB; compiling a
// JSON Schema, more.
const maxInitBytes = 32 << 10

// TestNoFunctionCompilesASchemaOrARegexpAtInit is issue 15's rule for cold
// starts: input schemas compile on first use, and our packages build no
// regexps or tables in their init. It runs each bootstrap's init under
// GODEBUG=inittrace=1 and bounds the allocations of the module's packages
// and of golang.org/x/text, which words the schema messages. (The schema
// engine's own init compiles its metaschemas: upstream's, see the README.)
func TestNoFunctionCompilesASchemaOrARegexpAtInit(t *testing.T) {
	ours := []string{module + "/", "golang.org/x/text/"}
	for name, bin := range hostBootstraps(t) {
		if name == floor {
			continue
		}
		for pkg, p := range initTrace(t, bin) {
			for _, prefix := range ours {
				if strings.HasPrefix(pkg+"/", prefix) && p.bytes > maxInitBytes {
					t.Errorf("functions/%s: the init of %s allocates %d bytes (%d allocations); build it on first use (sync.OnceValue) instead", name, pkg, p.bytes, p.allocs)
				}
			}
		}
	}
}

// BenchmarkRowBootstrap is issue 15's lean-functions row. size: the largest
// bootstrap (linux/arm64, scripts/build.sh's flags) in MB (2^20 bytes), the
// floor an aws-lambda-go hello built the same way in the same run; target
// ≤ 8 MB. init: the slowest function's package init (GODEBUG=inittrace=1,
// summed over packages, least of 15 runs of the host build) against the
// hello's; target ≤ hello + 10 ms. It also reports the most any function's
// init allocates (init-KiB), a figure the machine's load leaves alone. Each
// build happens once per run (-benchtime=1x is enough; more iterations
// re-measure nothing).
func BenchmarkRowBootstrap(b *testing.B) {
	b.Run("size", func(b *testing.B) {
		bins := bootstraps(b, "arm64")
		sizes := map[string]float64{}
		for name, bin := range bins {
			info, err := os.Stat(bin)
			if err != nil {
				b.Fatal(err)
			}
			sizes[name] = float64(info.Size()) / (1 << 20)
		}
		for b.Loop() {
		}
		largest := 0.0
		for name, mb := range sizes {
			if name != floor {
				largest = max(largest, mb)
				b.Logf("%-10s %.2f MB", name, mb)
			}
		}
		b.ReportMetric(largest, "MB")
		b.ReportMetric(sizes[floor], "floor-MB")
		b.ReportMetric(largest/sizes[floor], "x-floor")
		b.ReportMetric(0, "ns/op")
	})
	b.Run("init", func(b *testing.B) {
		bins := hostBootstraps(b)
		ms, kib := initMillis(b, bins, 15)
		for b.Loop() {
		}
		slowest, most := 0.0, 0.0
		for name, v := range ms {
			if name != floor {
				slowest, most = max(slowest, v), max(most, kib[name])
				b.Logf("%-10s init %.2f ms, %.0f KiB", name, v, kib[name])
			}
		}
		b.ReportMetric(slowest, "init-ms")
		b.ReportMetric(ms[floor], "floor-init-ms")
		b.ReportMetric(slowest/ms[floor], "x-floor")
		b.ReportMetric(slowest-ms[floor], "over-floor-ms")
		b.ReportMetric(most, "init-KiB")
		b.ReportMetric(kib[floor], "floor-init-KiB")
		b.ReportMetric(0, "ns/op")
	})
}
