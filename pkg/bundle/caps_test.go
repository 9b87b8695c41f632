package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/kitaru/deployments/functions/runner"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
)

// hostileArchives are the small bundles of issue #12 item 3 that made path
// checks quadratic, at sizes just over the caps and far over them.
func hostileArchives(t testing.TB) map[string][]byte {
	ok := file("flow.py", "x")
	deepName := strings.Repeat("a/", bundle.MaxPathSegments) + "f.py"
	return map[string][]byte{
		"a symlink target of 40,000 segments a":    archiveTB(t, ok, symlink("l", strings.Repeat("a/", 40_000))),
		"a symlink target one byte over the cap":   archiveTB(t, ok, symlink("l", strings.Repeat("b", bundle.MaxLinkTargetBytes+1))),
		"a symlink target of too many segments":    archiveTB(t, ok, symlink("l", strings.Repeat("./", bundle.MaxPathSegments+1))),
		"a PAX name of almost 1 MiB":               archiveTB(t, ok, file(strings.Repeat("a/", 1<<19-64)+"f.py", "x")),
		"a name one byte over the cap":             archiveTB(t, ok, file(strings.Repeat("n", bundle.MaxNameBytes+1), "x")),
		"a name of too many segments":              archiveTB(t, ok, file(deepName, "x")),
		"a hard link to a name of 40,000 segments": archiveTB(t, ok, hardlink("h", strings.Repeat("a/", 40_000)+"flow.py")),
	}
}

func TestValidateRefusesNamesAndLinksOverTheCaps(t *testing.T) {
	for name, data := range hostileArchives(t) {
		t.Run(name+" is refused as invalid_argument naming the limit", func(t *testing.T) {
			_, err := bundle.Validate(bytes.NewReader(data), bundle.Limits{}, "flow.py")
			var e *registry.Error
			if !errors.As(err, &e) || e.Code != registry.CodeInvalidArgument {
				t.Fatalf("Validate = %v; want invalid_argument", err)
			}
			if e.Details["limit"] == nil || !strings.Contains(e.Message, "at most") {
				t.Errorf("error %q (details %v) does not name the limit", e.Message, e.Details)
			}
		})
	}
}

func TestValidateAcceptsNamesAndLinksAtTheCaps(t *testing.T) {
	// The longest name and target allowed, each of the most segments allowed.
	segs := bundle.MaxPathSegments
	deep := strings.Repeat("d/", segs-1) + "f.py"
	long := strings.Repeat("n", bundle.MaxNameBytes-3) + ".py"
	target := strings.Repeat("../", segs-1) + "f.py" // from d/…/d/ back to the root
	linkName := strings.Repeat("d/", segs-1) + "up"
	data := archive(t, file(deep, "x"), file(long, "x"), file("f.py", "x"), symlink(linkName, target))
	if len(target) > bundle.MaxLinkTargetBytes {
		t.Fatalf("test target is %d bytes, over the cap", len(target))
	}
	if _, err := bundle.Validate(bytes.NewReader(data), bundle.Limits{}, linkName); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// TestValidateRefusesMoreMembersThanTheRunnerUnpacks is issue #12 item 9:
// a 150k-member bundle was accepted at deploy and refused by every run.
func TestValidateRefusesMoreMembersThanTheRunnerUnpacks(t *testing.T) {
	tests := []struct {
		name    string
		members int
		wantErr bool
	}{
		{"exactly the limit is accepted", bundle.MaxMembers, false},
		{"one over the limit is unprocessable", bundle.MaxMembers + 1, true},
		{"150,000 members are unprocessable", 150_000, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for i := range tt.members {
				if err := tw.WriteHeader(&tar.Header{Name: strconv.Itoa(i), Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
					t.Fatal(err)
				}
			}
			tw.Close()
			_, err := bundle.Validate(bytes.NewReader(gz(t, buf.Bytes())), bundle.Limits{}, "")
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *registry.Error
			if !errors.As(err, &e) || e.Code != registry.CodeUnprocessable || !strings.Contains(e.Message, strconv.Itoa(bundle.MaxMembers)) {
				t.Fatalf("Validate = %v; want unprocessable naming the limit %d", err, bundle.MaxMembers)
			}
		})
	}
}

// TestRunnerSharesTheBundleLimits keeps functions/runner/runner.py, which
// unpacks what deploys accepted, on the same limits as the server.
func TestRunnerSharesTheBundleLimits(t *testing.T) {
	for name, want := range map[string]int{
		"MAX_BUNDLE_MEMBERS":       bundle.MaxMembers,
		"MAX_MEMBER_NAME_BYTES":    bundle.MaxNameBytes,
		"MAX_LINK_TARGET_BYTES":    bundle.MaxLinkTargetBytes,
		"MAX_MEMBER_PATH_SEGMENTS": bundle.MaxPathSegments,
		"UNPACKED_FACTOR":          bundle.UncompressedFactor,
	} {
		m := regexp.MustCompile(`(?m)^` + name + ` = ([0-9_]+)$`).FindSubmatch(runner.Source)
		if m == nil {
			t.Errorf("runner.py defines no %s = <integer>", name)
			continue
		}
		got, err := strconv.Atoi(strings.ReplaceAll(string(m[1]), "_", ""))
		if err != nil || got != want {
			t.Errorf("runner.py %s = %s; the server's limit is %d", name, m[1], want)
		}
	}
}

// TestSymlinkResolutionIsLinearInTheInput counts the path segments symlink
// resolution steps through. Every one of n links names the end of a chain
// of 39 links with long targets; resolving each link on its own re-walks the
// whole chain (n × chain steps), resolving each link once walks it once.
func TestSymlinkResolutionIsLinearInTheInput(t *testing.T) {
	const chain, dots = 39, 100
	for _, n := range []int{10, 100, 1000, 4000} {
		t.Run(fmt.Sprintf("%d links through a chain of %d", n, chain), func(t *testing.T) {
			entries := []entry{symlink("c0", ".")}
			inputSegments := 2
			for i := 1; i < chain; i++ {
				entries = append(entries, symlink(fmt.Sprintf("c%d", i), strings.Repeat("./", dots)+fmt.Sprintf("c%d", i-1)))
				inputSegments += 1 + dots + 1
			}
			for j := range n {
				entries = append(entries, symlink(fmt.Sprintf("x%d", j), fmt.Sprintf("c%d", chain-1)))
				inputSegments += 2
			}
			steps, err := bundle.ResolutionSteps(bytes.NewReader(archive(t, entries...)))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if limit := 2 * inputSegments; steps > limit {
				t.Errorf("resolution took %d steps for %d segments of names and targets; want at most %d (linear)", steps, inputSegments, limit)
			}
		})
	}
}

func BenchmarkValidateHostile(b *testing.B) {
	for name, data := range hostileArchives(b) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				bundle.Validate(bytes.NewReader(data), bundle.Limits{}, "flow.py")
			}
		})
	}
}

// FuzzValidate checks that Validate never panics, answers only domain
// errors, and that what it accepts is within the caps, on any bytes.
func FuzzValidate(f *testing.F) {
	for _, data := range hostileArchives(f) {
		f.Add(data, "flow.py")
	}
	seeds := [][]entry{
		{file("flow.py", "x")},
		{dir("flows/"), file("flows/research.py", "x"), symlink("alias.py", "flows/research.py")},
		{file("a/x.py", "x"), dir("b/"), symlink("b/x.py", "../a/x.py")},
		{dir("a/"), symlink("a/up", ".."), symlink("b", "a/up/..")},
		{symlink("l1", "l2/x"), symlink("l2", "l1/y")},
		{symlink("lib", "."), file("lib/x.py", "x")},
		{file("f.py", "x"), hardlink("g.py", "f.py")},
		{file("f", "x"), symlink("f", "flow.py")},
	}
	for _, s := range seeds {
		f.Add(archiveTB(f, s...), "flow.py")
		f.Add(tarballTB(f, s...), "flows/research.py") // not gzip'd
	}
	f.Fuzz(func(t *testing.T, data []byte, entrypoint string) {
		info, err := bundle.Validate(bytes.NewReader(data), bundle.Limits{Compressed: 1 << 20, Uncompressed: 4 << 20}, entrypoint)
		if err != nil {
			var e *registry.Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate error %v is not a registry error", err)
			}
			switch e.Code {
			case registry.CodeInvalidArgument, registry.CodeUnprocessable, registry.CodePayloadTooLarge:
			default:
				t.Fatalf("Validate error code %s (%v)", e.Code, err)
			}
			return
		}
		if info.Size != int64(len(data)) || info.Files > bundle.MaxMembers {
			t.Fatalf("accepted %+v for %d bytes", info, len(data))
		}
	})
}

// archiveTB and tarballTB are archive and tarball for benchmarks and fuzz
// seeds too.
func archiveTB(tb testing.TB, entries ...entry) []byte {
	return gzTB(tb, tarballTB(tb, entries...))
}

func tarballTB(tb testing.TB, entries ...entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, Size: int64(len(e.body))}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatalf("write header: %v", err)
		}
		tw.Write([]byte(e.body))
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func gzTB(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
