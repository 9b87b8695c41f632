package bundle_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/registry"
)

// writeTree creates files (path → content) under a new temporary root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// member is what a test reads back from a bundle.
type member struct {
	Name     string
	Type     byte
	Mode     int64
	Link     string
	Body     string
	Owner    string
	Modified time.Time
}

func readMembers(t *testing.T, data []byte) []member {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header carries name %q and time %v; want neither", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var got []member
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got = append(got, member{
			Name: hdr.Name, Type: hdr.Typeflag, Mode: hdr.Mode, Link: hdr.Linkname, Body: string(body),
			Owner:    fmt.Sprintf("%d:%d %s:%s", hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname),
			Modified: hdr.ModTime,
		})
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	files := map[string]string{"flows/research.py": "def research_agent(topic): return topic\n", "README.md": "hi\n", ".kitaru/config.json": `{"version":1}`}
	first, err := bundle.Build(writeTree(t, files))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the same tree elsewhere with other mtimes gives the same bytes", func(t *testing.T) {
		root := writeTree(t, files)
		old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
		filepath.Walk(root, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })
		again, err := bundle.Build(root)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first.Data, again.Data) || first.Digest != again.Digest {
			t.Errorf("digests %s and %s differ for the same tree", first.Digest, again.Digest)
		}
	})
	t.Run("a changed file gives another digest", func(t *testing.T) {
		changed := map[string]string{}
		for k, v := range files {
			changed[k] = v
		}
		changed["README.md"] = "changed\n"
		other, err := bundle.Build(writeTree(t, changed))
		if err != nil {
			t.Fatal(err)
		}
		if other.Digest == first.Digest {
			t.Error("a different tree has the same digest")
		}
	})
	t.Run("the digest and size describe the data and Validate agrees", func(t *testing.T) {
		info, err := bundle.Validate(bytes.NewReader(first.Data), bundle.Limits{}, "flows/research.py")
		if err != nil {
			t.Fatal(err)
		}
		if info.Digest != first.Digest || info.Size != first.Size || first.Size != int64(len(first.Data)) {
			t.Errorf("Validate says %+v; Build says %s, %d bytes", info, first.Digest, first.Size)
		}
	})
}

func TestBuildMembers(t *testing.T) {
	root := writeTree(t, map[string]string{
		"flows/research.py":           "code",
		"run.sh":                      "#!/bin/sh\n",
		".kitaru/config.json":         "{}",
		".kitaru/cache/blob":          "cached",
		".git/HEAD":                   "ref",
		"__pycache__/x.cpython.pyc":   "bytecode",
		"flows/__pycache__/y.pyc":     "bytecode",
		"flows/stale.pyc":             "bytecode",
		".venv/bin/python":            "venv",
		"venv/lib/site.py":            "venv",
		"web/node_modules/x/index.js": "js",
		"lib/.git/config":             "nested repo",
	})
	if err := os.Chmod(filepath.Join(root, "run.sh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("research.py", filepath.Join(root, "flows", "alias.py")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "flows", "research.py"), filepath.Join(root, "abs.py")); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Build(root)
	if err != nil {
		t.Fatal(err)
	}
	zero := "0:0 :"
	epoch := time.Unix(0, 0)
	want := []member{
		{Name: ".kitaru/", Type: tar.TypeDir, Mode: 0o755, Owner: zero, Modified: epoch},
		{Name: ".kitaru/config.json", Type: tar.TypeReg, Mode: 0o644, Body: "{}", Owner: zero, Modified: epoch},
		{Name: "abs.py", Type: tar.TypeSymlink, Mode: 0o777, Link: "flows/research.py", Owner: zero, Modified: epoch},
		{Name: "flows/", Type: tar.TypeDir, Mode: 0o755, Owner: zero, Modified: epoch},
		{Name: "flows/alias.py", Type: tar.TypeSymlink, Mode: 0o777, Link: "research.py", Owner: zero, Modified: epoch},
		{Name: "flows/research.py", Type: tar.TypeReg, Mode: 0o644, Body: "code", Owner: zero, Modified: epoch},
		{Name: "lib/", Type: tar.TypeDir, Mode: 0o755, Owner: zero, Modified: epoch},
		{Name: "run.sh", Type: tar.TypeReg, Mode: 0o755, Body: "#!/bin/sh\n", Owner: zero, Modified: epoch},
		{Name: "web/", Type: tar.TypeDir, Mode: 0o755, Owner: zero, Modified: epoch},
	}
	if diff := cmp.Diff(want, readMembers(t, b.Data)); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
}

func TestBuildRefusesLinksOutOfTheRoot(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
	}{
		{"a relative symlink out of the root", func(t *testing.T, root string) {
			must(t, os.Symlink("../../etc/passwd", filepath.Join(root, "flows", "pw")))
		}},
		{"an absolute symlink to another directory", func(t *testing.T, root string) {
			must(t, os.Symlink(outside, filepath.Join(root, "data")))
		}},
		{"a symlink escaping through another symlink", func(t *testing.T, root string) {
			must(t, os.Symlink("..", filepath.Join(root, "flows", "up")))
			must(t, os.Symlink("flows/up/..", filepath.Join(root, "escape")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{"flows/research.py": "code"})
			tt.setup(t, root)
			_, err := bundle.Build(root)
			if !errors.Is(err, registry.ErrInvalidArgument) {
				t.Fatalf("Build = %v; want invalid_argument", err)
			}
		})
	}
}

func TestBuildOfAMissingRootFails(t *testing.T) {
	if _, err := bundle.Build(filepath.Join(t.TempDir(), "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Build = %v; want not exist", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
