package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
)

// entry is one member of a test archive.
type entry struct {
	name string
	typ  byte
	body string
	link string
	size int64 // zero-filled file of this size when body is empty
}

func file(name, body string) entry   { return entry{name: name, typ: tar.TypeReg, body: body} }
func dir(name string) entry          { return entry{name: name, typ: tar.TypeDir} }
func symlink(name, to string) entry  { return entry{name: name, typ: tar.TypeSymlink, link: to} }
func hardlink(name, to string) entry { return entry{name: name, typ: tar.TypeLink, link: to} }

// tarball writes entries as an (uncompressed) tar.
func tarball(t *testing.T, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644}
		if e.typ == tar.TypeXGlobalHeader {
			hdr = &tar.Header{Typeflag: e.typ, PAXRecords: map[string]string{"comment": "0123abcd"}}
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
			if e.body == "" {
				hdr.Size = e.size
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("write header %s: %v", e.name, err)
		}
		if e.body != "" {
			tw.Write([]byte(e.body))
		} else if e.size > 0 {
			tw.Write(make([]byte, e.size))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func archive(t *testing.T, entries ...entry) []byte { return gz(t, tarball(t, entries...)) }

func TestValidateAcceptsSafeBundles(t *testing.T) {
	tests := []struct {
		name       string
		entries    []entry
		entrypoint string
		wantFiles  int
	}{
		{"a flat project with its entrypoint", []entry{file("flow.py", "def f(): pass\n")}, "flow.py", 1},
		{"nested directories", []entry{dir("flows/"), file("flows/research.py", "x"), file("README.md", "r")}, "flows/research.py", 2},
		{"names made by tar czf . with a ./ prefix", []entry{dir("./"), dir("./flows/"), file("./flows/research.py", "x")}, "flows/research.py", 1},
		{"a symlink to a file inside the root", []entry{file("lib/real.py", "x"), symlink("lib/alias.py", "real.py")}, "lib/real.py", 1},
		{"a symlink up and back down inside the root", []entry{file("a/x.py", "x"), dir("b/"), symlink("b/x.py", "../a/x.py")}, "a/x.py", 1},
		{"the entrypoint reached through a symlinked directory", []entry{file("src/flow.py", "x"), symlink("flows", "src")}, "flows/flow.py", 1},
		{"a dangling symlink that stays inside", []entry{file("f.py", "x"), symlink("gone", "missing/file")}, "f.py", 1},
		{"a hard link to an earlier file", []entry{file("f.py", "x"), hardlink("g.py", "f.py")}, "g.py", 2},
		{"a global header as git archive writes it", []entry{{name: "pax_global_header", typ: tar.TypeXGlobalHeader}, file("f.py", "x")}, "f.py", 1},
		{"no entrypoint check when none is given", []entry{file("f.py", "x")}, "", 1},
		{"an empty archive without entrypoint", nil, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := archive(t, tt.entries...)
			info, err := bundle.Validate(bytes.NewReader(data), bundle.Limits{}, tt.entrypoint)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			sum := sha256.Sum256(data)
			want := bundle.Info{Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data)), Files: tt.wantFiles}
			if info != want {
				t.Errorf("info %+v, want %+v", info, want)
			}
		})
	}
}

func TestValidateRefusesUnsafeBundles(t *testing.T) {
	ok := file("flow.py", "x")
	// A tar stream followed by zeros: the members are small but it inflates
	// past the limit.
	paddedBomb := gz(t, append(tarball(t, ok), make([]byte, 2<<20)...))
	tests := []struct {
		name       string
		data       func(t *testing.T) []byte
		limits     bundle.Limits
		entrypoint string
		wantCode   registry.Code
		wantMember string
		wantText   string
	}{
		{name: "bytes that are not gzip are refused", data: func(*testing.T) []byte { return []byte("PK\x03\x04 a zip") }, wantCode: registry.CodeInvalidArgument, wantText: "gzip"},
		{name: "an empty body is refused", data: func(*testing.T) []byte { return nil }, wantCode: registry.CodeInvalidArgument},
		{name: "gzip that is not a tar is refused", data: func(t *testing.T) []byte { return gz(t, []byte(strings.Repeat("not a tar ", 100))) }, wantCode: registry.CodeInvalidArgument, wantText: "tar"},
		{name: "a truncated gzip stream is refused", data: func(t *testing.T) []byte { a := archive(t, ok); return a[:len(a)-10] }, wantCode: registry.CodeInvalidArgument},
		{name: "trailing garbage after the gzip stream is refused", data: func(t *testing.T) []byte { return append(archive(t, ok), "garbage"...) }, wantCode: registry.CodeInvalidArgument},
		{name: "an absolute member is refused", data: func(t *testing.T) []byte { return archive(t, ok, file("/etc/cron.d/x", "x")) }, wantCode: registry.CodeInvalidArgument, wantMember: "/etc/cron.d/x", wantText: "absolute"},
		{name: "a member starting with ../ is refused", data: func(t *testing.T) []byte { return archive(t, ok, file("../evil.py", "x")) }, wantCode: registry.CodeInvalidArgument, wantMember: "../evil.py", wantText: ".."},
		{name: "a member with .. in the middle is refused", data: func(t *testing.T) []byte { return archive(t, ok, file("a/../../evil.py", "x")) }, wantCode: registry.CodeInvalidArgument, wantMember: "a/../../evil.py"},
		{name: "a symlink out of the root is refused", data: func(t *testing.T) []byte { return archive(t, ok, symlink("flows/x", "../../etc/passwd")) }, wantCode: registry.CodeInvalidArgument, wantMember: "flows/x", wantText: "leaves the project root"},
		{name: "an absolute symlink is refused", data: func(t *testing.T) []byte { return archive(t, ok, symlink("x", "/etc/passwd")) }, wantCode: registry.CodeInvalidArgument, wantMember: "x", wantText: "absolute"},
		{name: "a symlink escaping through another symlink is refused", data: func(t *testing.T) []byte {
			return archive(t, ok, dir("a/"), symlink("a/up", ".."), symlink("b", "a/up/.."))
		}, wantCode: registry.CodeInvalidArgument, wantMember: "b"},
		{name: "a member below a symlink is refused", data: func(t *testing.T) []byte {
			return archive(t, ok, symlink("lib", "."), file("lib/x.py", "x"))
		}, wantCode: registry.CodeInvalidArgument, wantMember: "lib/x.py", wantText: "symlink"},
		{name: "a symlink loop is refused", data: func(t *testing.T) []byte { return archive(t, ok, symlink("l1", "l2/x"), symlink("l2", "l1/y")) }, wantCode: registry.CodeInvalidArgument, wantText: "loop"},
		{name: "a hard link out of the root is refused", data: func(t *testing.T) []byte { return archive(t, ok, hardlink("h", "../../etc/shadow")) }, wantCode: registry.CodeInvalidArgument, wantMember: "h"},
		{name: "a hard link to a missing member is refused", data: func(t *testing.T) []byte { return archive(t, ok, hardlink("h", "nope.py")) }, wantCode: registry.CodeInvalidArgument, wantMember: "h"},
		{name: "a device is refused", data: func(t *testing.T) []byte { return archive(t, ok, entry{name: "dev/sda", typ: tar.TypeBlock}) }, wantCode: registry.CodeInvalidArgument, wantMember: "dev/sda", wantText: "device"},
		{name: "a character device is refused", data: func(t *testing.T) []byte { return archive(t, ok, entry{name: "null", typ: tar.TypeChar}) }, wantCode: registry.CodeInvalidArgument, wantMember: "null"},
		{name: "a FIFO is refused", data: func(t *testing.T) []byte { return archive(t, ok, entry{name: "pipe", typ: tar.TypeFifo}) }, wantCode: registry.CodeInvalidArgument, wantMember: "pipe", wantText: "FIFO"},
		{name: "a file replaced by a symlink is refused", data: func(t *testing.T) []byte { return archive(t, ok, file("f", "x"), symlink("f", "flow.py")) }, wantCode: registry.CodeInvalidArgument, wantMember: "f", wantText: "twice"},
		{name: "a missing entrypoint is unprocessable", data: func(t *testing.T) []byte { return archive(t, ok) }, entrypoint: "flows/research.py", wantCode: registry.CodeUnprocessable, wantText: "relative to the project root"},
		{name: "an entrypoint that is a directory is unprocessable", data: func(t *testing.T) []byte { return archive(t, ok, dir("flows/x.py/")) }, entrypoint: "flows/x.py", wantCode: registry.CodeUnprocessable},
		{name: "a bundle over the compressed limit is too large", data: func(t *testing.T) []byte { return archive(t, file("big.bin", randomText(64<<10))) }, limits: bundle.Limits{Compressed: 16 << 10, Uncompressed: 1 << 20}, wantCode: registry.CodePayloadTooLarge},
		{name: "a large zero file over the uncompressed limit is too large", data: func(t *testing.T) []byte {
			return archive(t, ok, entry{name: "zeros", typ: tar.TypeReg, size: 8 << 20})
		}, limits: bundle.Limits{Compressed: 1 << 20, Uncompressed: 1 << 20}, wantCode: registry.CodePayloadTooLarge, wantText: "unpacks"},
		{name: "many files together over the uncompressed limit are too large", data: func(t *testing.T) []byte {
			var es []entry
			for i := range 5 {
				es = append(es, entry{name: "z" + string(rune('a'+i)), typ: tar.TypeReg, size: 300 << 10})
			}
			return archive(t, es...)
		}, limits: bundle.Limits{Compressed: 1 << 20, Uncompressed: 1 << 20}, wantCode: registry.CodePayloadTooLarge},
		{name: "zeros after the tar inflating past the limit are too large", data: func(*testing.T) []byte { return paddedBomb }, limits: bundle.Limits{Compressed: 1 << 20, Uncompressed: 1 << 20}, wantCode: registry.CodePayloadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bundle.Validate(bytes.NewReader(tt.data(t)), tt.limits, tt.entrypoint)
			if err == nil {
				t.Fatal("Validate accepted the bundle")
			}
			var e *registry.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not a registry error", err)
			}
			if e.Code != tt.wantCode {
				t.Errorf("code %s, want %s (%v)", e.Code, tt.wantCode, err)
			}
			if tt.wantMember != "" && e.Details["member"] != tt.wantMember {
				t.Errorf("details %v do not name member %q (%v)", e.Details, tt.wantMember, err)
			}
			if !strings.Contains(e.Message, tt.wantText) {
				t.Errorf("message %q lacks %q", e.Message, tt.wantText)
			}
		})
	}
}

// randomText is incompressible enough to exceed a compressed limit.
func randomText(n int) string {
	var b strings.Builder
	x := uint32(2463534242)
	for b.Len() < n {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteByte(byte(x))
	}
	return b.String()
}

func TestKeyFor(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		name    string
		project string
		digest  string
		want    string
		wantErr bool
	}{
		{"a sha256 digest maps to its address in the project", "team-a", "sha256:" + hex64, "bundles/team-a/sha256/" + hex64, false},
		{"the same digest in another project is another key", "team-b", "sha256:" + hex64, "bundles/team-b/sha256/" + hex64, false},
		{"a bare hex digest is refused", "team-a", hex64, "", true},
		{"uppercase hex is refused", "team-a", "sha256:" + strings.ToUpper(hex64), "", true},
		{"a short digest is refused", "team-a", "sha256:abc", "", true},
		{"another algorithm is refused", "team-a", "sha512:" + hex64, "", true},
		{"a path in the digest is refused", "team-a", "sha256:../../" + hex64[6:], "", true},
		{"an empty project is refused", "", "sha256:" + hex64, "", true},
		{"a project with a slash is refused", "a/../b", "sha256:" + hex64, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := bundle.KeyFor(tt.project, tt.digest)
			if tt.wantErr != (err != nil) || got != tt.want {
				t.Errorf("KeyFor(%q, %q) = %q, %v; want %q (error %v)", tt.project, tt.digest, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, registry.ErrInvalidArgument) {
				t.Errorf("error %v is not invalid_argument", err)
			}
		})
	}
}
