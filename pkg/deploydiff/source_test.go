package deploydiff_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
	"github.com/kitaru/deployments/pkg/bundle/bundletest"
	"github.com/kitaru/deployments/pkg/deploydiff"
)

// tree builds a bundle of files (and symlinks, "->target") the way
// kitaru deploy does, and reads it back into a diff tree under path.
func tree(t testing.TB, path string, files map[string]string) *deploydiff.Tree {
	t.Helper()
	b, err := bundletest.FromFiles(files)
	if err != nil {
		t.Fatalf("build bundle: %v", err)
	}
	tr := deploydiff.NewTree(path)
	if _, err := bundle.Read(bytes.NewReader(b.Data), bundle.Limits{}, tr.Add); err != nil {
		t.Fatalf("read bundle: %v", err)
	}
	return tr
}

func byPath(d api.SourceDiff) map[string]api.FileChange {
	m := map[string]api.FileChange{}
	for _, f := range d.Files {
		m[f.Path] = f
	}
	return m
}

func TestCompareTreesListsAddedRemovedAndModifiedFiles(t *testing.T) {
	from := tree(t, "", map[string]string{
		"flows/research.py": "import os\n\ndef research(topic):\n    return topic\n",
		"README.md":         "same\n",
		"old.txt":           "gone\n",
		"data.bin":          "\x00\x01\x02",
		"link.py":           "->flows/research.py",
	})
	to := tree(t, "", map[string]string{
		"flows/research.py": "import os\n\ndef research(topic, depth=1):\n    return topic\n",
		"README.md":         "same\n",
		"new.txt":           "hello\n",
		"data.bin":          "\x00\x01\x03",
		"link.py":           "->README.md",
	})
	d := deploydiff.CompareTrees(from, to, deploydiff.SourceOptions{Hint: "hint"})
	if want := (api.FileSummary{Added: 1, Removed: 1, Modified: 3, Unchanged: 1}); d.Summary != want {
		t.Errorf("summary = %+v; want %+v", d.Summary, want)
	}
	if !d.Compared || d.Truncated {
		t.Errorf("compared = %v, truncated = %v; want compared and not truncated", d.Compared, d.Truncated)
	}
	var paths []string
	for _, f := range d.Files {
		paths = append(paths, f.Path+" "+f.Change)
	}
	if diff := cmp.Diff([]string{"data.bin modified", "flows/research.py modified", "link.py modified", "new.txt added", "old.txt removed"}, paths); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	files := byPath(d)

	t.Run("a modified text file is a unified diff with context", func(t *testing.T) {
		want := "--- a/flows/research.py\n+++ b/flows/research.py\n@@ -1,4 +1,4 @@\n import os\n \n-def research(topic):\n+def research(topic, depth=1):\n     return topic\n"
		if got := files["flows/research.py"].Diff; got != want {
			t.Errorf("diff =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("an added text file is diffed against nothing", func(t *testing.T) {
		want := "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+hello\n"
		if got := files["new.txt"].Diff; got != want {
			t.Errorf("diff = %q; want %q", got, want)
		}
		if f := files["new.txt"]; f.From != nil || f.To == nil || f.To.Kind != "text" || f.To.Size != 6 {
			t.Errorf("added file = %+v; want only To, text of 6 bytes", f)
		}
	})
	t.Run("a removed file names its old version", func(t *testing.T) {
		if f := files["old.txt"]; f.To != nil || f.From == nil || !strings.HasPrefix(f.Diff, "--- a/old.txt\n+++ /dev/null\n") {
			t.Errorf("removed file = %+v", f)
		}
	})
	t.Run("a binary file is listed by digest, without diff", func(t *testing.T) {
		f := files["data.bin"]
		if f.Diff != "" || f.DiffOmitted == "" || f.From.Kind != "binary" || f.From.Digest == f.To.Digest ||
			!strings.HasPrefix(f.To.Digest, "sha256:") {
			t.Errorf("binary file = %+v %+v %+v", f, f.From, f.To)
		}
	})
	t.Run("a symlink names its targets", func(t *testing.T) {
		f := files["link.py"]
		if f.From.Kind != "symlink" || f.From.Target != "flows/research.py" || f.To.Target != "README.md" || f.Diff != "" {
			t.Errorf("symlink = %+v %+v %+v", f, f.From, f.To)
		}
	})
}

func TestCompareTreesShowsAMissingFinalNewlineAsGitDoes(t *testing.T) {
	d := deploydiff.CompareTrees(tree(t, "", map[string]string{"a.py": "x\ny"}), tree(t, "", map[string]string{"a.py": "x\ny\n"}), deploydiff.SourceOptions{})
	want := "--- a/a.py\n+++ b/a.py\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+y\n"
	if got := byPath(d)["a.py"].Diff; got != want {
		t.Errorf("diff =\n%q\nwant\n%q", got, want)
	}
}

// numbered returns n lines whose text includes tag, so two calls with
// different tags differ on every line.
func numbered(n int, tag string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "line %d of %s\n", i, tag)
	}
	return b.String()
}

func TestCompareTreesBoundsTheDiffText(t *testing.T) {
	// Each file's diff is about 2 × 4,000 lines × 20 bytes = 160 KiB.
	from, to := map[string]string{}, map[string]string{}
	for i := range 4 {
		name := fmt.Sprintf("f%d.py", i)
		from[name], to[name] = numbered(4000, "old"), numbered(4000, "new")
	}
	a, b := tree(t, "", from), tree(t, "", to)

	t.Run("a file's diff is cut at the per-file cap, the answer at its cap, with a marker saying how to see the rest", func(t *testing.T) {
		d := deploydiff.CompareTrees(a, b, deploydiff.SourceOptions{Hint: "ask again with path"})
		total := 0
		for _, f := range d.Files {
			total += len(f.Diff)
			if len(f.Diff) > deploydiff.MaxFileDiffBytes || !f.DiffTruncated && f.Diff != "" || f.DiffOmitted == "" {
				t.Errorf("%s: %d bytes of diff, truncated %v, omitted %q; want at most the per-file cap, marked", f.Path, len(f.Diff), f.DiffTruncated, f.DiffOmitted)
			}
			if f.Diff != "" && !strings.HasSuffix(f.Diff, "\n") {
				t.Errorf("%s: the cut diff ends mid-line", f.Path)
			}
		}
		if total > deploydiff.MaxDiffBytes {
			t.Errorf("answer holds %d bytes of diff; the cap is %d", total, deploydiff.MaxDiffBytes)
		}
		if !d.Truncated || !strings.Contains(d.Truncation, "4 file(s)") || !strings.HasSuffix(d.Truncation, "ask again with path") {
			t.Errorf("truncated = %v, truncation %q; want a marker naming 4 files and the hint", d.Truncated, d.Truncation)
		}
	})
	t.Run("narrowed to one file by path, the file gets the answer's cap", func(t *testing.T) {
		d := deploydiff.CompareTrees(tree(t, "f1.py", from), tree(t, "f1.py", to), deploydiff.SourceOptions{Path: "f1.py"})
		if len(d.Files) != 1 || d.Files[0].Path != "f1.py" || d.Path != "f1.py" {
			t.Fatalf("files = %+v; want f1.py alone", d.Files)
		}
		if n := len(d.Files[0].Diff); n <= deploydiff.MaxFileDiffBytes || n > deploydiff.MaxDiffBytes {
			t.Errorf("diff of f1.py is %d bytes; want over the per-file cap and within the answer's", n)
		}
		if d.Files[0].DiffTruncated {
			t.Errorf("a 160 KiB diff was cut though the answer holds %d bytes", deploydiff.MaxDiffBytes)
		}
	})
	t.Run("files over the text limit are compared by digest", func(t *testing.T) {
		big := strings.Repeat("x", deploydiff.MaxTextFileBytes) + "\n"
		d := deploydiff.CompareTrees(tree(t, "", map[string]string{"big.txt": big}), tree(t, "", map[string]string{"big.txt": big + "y\n"}), deploydiff.SourceOptions{})
		f := byPath(d)["big.txt"]
		if f.Diff != "" || !strings.Contains(f.DiffOmitted, "compared by digest") || f.From.Kind != "text" || f.From.Digest == f.To.Digest {
			t.Errorf("big file = %+v %+v %+v", f, f.From, f.To)
		}
	})
}

func TestCompareTreesListsAtMostMaxListedFiles(t *testing.T) {
	to := map[string]string{}
	for i := range deploydiff.MaxListedFiles + 5 {
		to[fmt.Sprintf("gen/f%04d.py", i)] = "x\n"
	}
	d := deploydiff.CompareTrees(tree(t, "", map[string]string{"a.py": "a\n"}), tree(t, "", to), deploydiff.SourceOptions{Hint: "hint"})
	if len(d.Files) != deploydiff.MaxListedFiles || d.Summary.Added != deploydiff.MaxListedFiles+5 || d.Summary.Removed != 1 {
		t.Errorf("listed %d files, summary %+v; want %d listed and every one counted", len(d.Files), d.Summary, deploydiff.MaxListedFiles)
	}
	if !d.Truncated || !strings.Contains(d.Truncation, "6 more changed file(s)") {
		t.Errorf("truncation = %q; want it to count the unlisted files", d.Truncation)
	}
}

// BenchmarkCompareTreesOfLargeFiles diffs the largest files the bounds let
// through line by line: sharing no line, and sharing every line in reverse.
func BenchmarkCompareTreesOfLargeFiles(b *testing.B) {
	lineCount := deploydiff.MaxTextFileBytes / 15
	old := numbered(lineCount, "old")[:deploydiff.MaxTextFileBytes-100]
	old = old[:strings.LastIndexByte(old, '\n')+1]
	ls := strings.SplitAfter(old, "\n")
	slices.Reverse(ls)
	cases := map[string][2]string{
		"sharing no line": {old, strings.ReplaceAll(old, "old", "new")},
		"reversed lines":  {old, strings.Join(ls, "")},
	}
	for name, c := range cases {
		from, to := tree(b, "", map[string]string{"a.txt": c[0]}), tree(b, "", map[string]string{"a.txt": c[1]})
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				deploydiff.CompareTrees(from, to, deploydiff.SourceOptions{})
			}
		})
	}
}

func TestCompareTreesMatchesFilesByContentWhetherHeldOrNot(t *testing.T) {
	// Past MaxHeldBytes of text, files are no longer held, and one that is
	// not UTF-8 (and has no NUL) can only be sniffed; it is still the same
	// file as its held copy in a smaller bundle.
	notUTF8 := "caf\xe9\n"
	small := map[string]string{"z.txt": notUTF8}
	big := map[string]string{"z.txt": notUTF8}
	chunk := strings.Repeat("x", deploydiff.MaxTextFileBytes-1) + "\n"
	for i := range deploydiff.MaxHeldBytes/deploydiff.MaxTextFileBytes + 1 {
		big[fmt.Sprintf("big/%03d.txt", i)] = chunk
	}
	d := deploydiff.CompareTrees(tree(t, "", small), tree(t, "", big), deploydiff.SourceOptions{})
	if f, listed := byPath(d)["z.txt"]; listed || d.Summary.Unchanged != 1 {
		t.Errorf("z.txt listed as %+v (from %+v, to %+v), summary %+v; want it unchanged", f, f.From, f.To, d.Summary)
	}
}
