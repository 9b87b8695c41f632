package deploydiff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/kitaru/deployments/pkg/api"
	"github.com/kitaru/deployments/pkg/bundle"
)

// Bounds of a source diff. A bundle may unpack to 256 MiB and 100,000
// members; the diff holds and answers far less, and says what it left out.
const (
	// MaxTextFileBytes bounds a file diffed line by line; larger files are
	// compared by digest.
	MaxTextFileBytes = 512 << 10
	// MaxHeldBytes bounds the text one bundle's diff holds in memory; files
	// past it are compared by digest.
	MaxHeldBytes = 32 << 20
	// MaxDiffBytes bounds the diff text of one answer.
	MaxDiffBytes = 256 << 10
	// MaxFileDiffBytes bounds the diff text of one file, unless the answer
	// is narrowed to it by path: then MaxDiffBytes does.
	MaxFileDiffBytes = 64 << 10
	// MaxListedFiles bounds the changed files one answer lists; Summary
	// counts them all.
	MaxListedFiles = 1000
	// sniffBytes is how much of a file decides text or binary when the
	// file is too large to hold, as git decides it.
	sniffBytes = 8000
	// diffContext is the unchanged lines shown around a change.
	diffContext = 3
)

// The kinds of a FileVersion.
const (
	kindText   = "text"
	kindBinary = "binary"
)

// treeFile is a file or link of a bundle as the diff needs it.
type treeFile struct {
	api.FileVersion
	text   string // a text file's content, when held
	held   bool
	reason string // why a text file's content is not held
}

// Tree is the files of one bundle under a path filter, gathered by Add as
// bundle.Read visits them.
type Tree struct {
	path  string
	files map[string]*treeFile
	held  int64
}

// NewTree returns an empty tree that keeps the files under path (a file or
// a directory; empty keeps all).
func NewTree(path string) *Tree { return &Tree{path: path, files: map[string]*treeFile{}} }

// Add records one entry of a bundle; it is a bundle.Read visitor.
func (t *Tree) Add(e bundle.Entry) error {
	if t.path != "" && e.Name != t.path && !strings.HasPrefix(e.Name, t.path+"/") {
		return nil
	}
	if e.Kind != bundle.EntryFile {
		t.files[e.Name] = &treeFile{FileVersion: api.FileVersion{Kind: string(e.Kind), Target: e.Target}}
		return nil
	}
	f := &treeFile{FileVersion: api.FileVersion{Size: e.Size}}
	keep := e.Size <= MaxTextFileBytes && t.held+e.Size <= MaxHeldBytes
	var content bytes.Buffer
	h := sha256.New()
	limit := int64(sniffBytes)
	if keep {
		limit = e.Size
	}
	if _, err := io.Copy(io.MultiWriter(h, &prefixWriter{buf: &content, limit: limit}), e.Content); err != nil {
		return fmt.Errorf("read %s: %w", e.Name, err)
	}
	f.Digest = bundle.DigestPrefix + hex.EncodeToString(h.Sum(nil))
	data := content.Bytes()
	f.Kind = kindText
	switch {
	case bytes.IndexByte(data, 0) >= 0 || keep && !utf8.Valid(data):
		f.Kind = kindBinary
	case keep:
		f.text, f.held = string(data), true
		t.held += e.Size
	case e.Size > MaxTextFileBytes:
		f.reason = fmt.Sprintf("a text file over %s; compared by digest", bundle.FormatSize(MaxTextFileBytes))
	default:
		f.reason = fmt.Sprintf("the bundle's text files exceed the %s one diff reads; compared by digest", bundle.FormatSize(MaxHeldBytes))
	}
	t.files[e.Name] = f
	return nil
}

// prefixWriter keeps the first limit bytes written to it.
type prefixWriter struct {
	buf   *bytes.Buffer
	limit int64
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.limit - int64(w.buf.Len()); room > 0 {
		w.buf.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}

// SourceOptions qualify CompareTrees.
type SourceOptions struct {
	// Path is the filter the trees were read with, echoed in the answer;
	// a diff narrowed to a path gives each file MaxDiffBytes.
	Path string
	// Hint says how to see what a cut diff left out.
	Hint string
}

// CompareTrees diffs two bundles' files: added, removed and modified files
// by path, text files as unified diffs, within the bounds above.
func CompareTrees(from, to *Tree, opts SourceOptions) api.SourceDiff {
	diff := api.SourceDiff{Compared: true, Path: opts.Path, Files: []api.FileChange{}}
	perFile := MaxFileDiffBytes
	if opts.Path != "" {
		perFile = MaxDiffBytes
	}
	budget := MaxDiffBytes
	var cut, unlisted int
	for _, p := range unionKeys(from.files, to.files) {
		a, b := from.files[p], to.files[p]
		c := api.FileChange{Path: p}
		switch {
		case a == nil:
			diff.Summary.Added++
			c.Change, c.To = api.ChangeAdded, &b.FileVersion
		case b == nil:
			diff.Summary.Removed++
			c.Change, c.From = api.ChangeRemoved, &a.FileVersion
		case sameFile(a, b):
			diff.Summary.Unchanged++
			continue
		default:
			diff.Summary.Modified++
			c.Change, c.From, c.To = api.ChangeModified, &a.FileVersion, &b.FileVersion
		}
		if len(diff.Files) == MaxListedFiles {
			unlisted++
			continue
		}
		if fileCut := diffText(&c, a, b, min(perFile, budget)); fileCut {
			cut++
		}
		budget -= len(c.Diff)
		diff.Files = append(diff.Files, c)
	}
	if cut > 0 || unlisted > 0 {
		diff.Truncated = true
		var parts []string
		if cut > 0 {
			parts = append(parts, fmt.Sprintf("the diff text of %d file(s) was cut or left out to keep the answer within %s (%s per file); those files say so in diff_omitted", cut, bundle.FormatSize(MaxDiffBytes), bundle.FormatSize(int64(perFile))))
		}
		if unlisted > 0 {
			parts = append(parts, fmt.Sprintf("%d more changed file(s) are not listed (at most %d are); the summary counts them", unlisted, MaxListedFiles))
		}
		diff.Truncation = strings.Join(parts, "; ") + ": to see them, " + opts.Hint
	}
	return diff
}

// sameFile reports whether two entries hold the same: files the same
// content (whether each was held as text does not matter), links the same
// target.
func sameFile(a, b *treeFile) bool {
	if a.Digest != "" || b.Digest != "" {
		return a.Digest == b.Digest
	}
	return a.Kind == b.Kind && a.Target == b.Target
}

// diffText fills c.Diff with the unified diff of a text file within limit
// bytes, or says in c.DiffOmitted why there is none or it was cut. It
// reports whether the answer's bounds cut or left out the diff.
func diffText(c *api.FileChange, a, b *treeFile, limit int) bool {
	for _, f := range []*treeFile{a, b} {
		switch {
		case f == nil:
		case f.Kind == kindBinary:
			c.DiffOmitted = "a binary file; compared by digest"
			return false
		case f.Kind != kindText:
			return false // a link: its target is the change
		case !f.held:
			c.DiffOmitted = f.reason
			return false
		}
	}
	if limit <= 0 {
		c.DiffOmitted = "the answer's diff text is used up"
		return true
	}
	ud := difflib.UnifiedDiff{A: lines(a), B: lines(b), FromFile: "/dev/null", ToFile: "/dev/null", Context: diffContext}
	if a != nil {
		ud.FromFile = "a/" + c.Path
	}
	if b != nil {
		ud.ToFile = "b/" + c.Path
	}
	text, err := difflib.GetUnifiedDiffString(ud)
	if err != nil {
		c.DiffOmitted = "the diff could not be written: " + err.Error()
		return false
	}
	if len(text) <= limit {
		c.Diff = text
		return false
	}
	kept := strings.LastIndexByte(text[:limit], '\n') + 1
	c.Diff, c.DiffTruncated = text[:kept], true
	c.DiffOmitted = fmt.Sprintf("the diff is %s; the last %s are left out", bundle.FormatSize(int64(len(text))), bundle.FormatSize(int64(len(text)-kept)))
	return true
}

// lines splits a held text file into lines, each with its newline; a last
// line without one carries git's marker, so that adding or removing the
// final newline shows as a change of that line.
func lines(f *treeFile) []string {
	if f == nil || f.text == "" {
		return nil
	}
	ls := strings.SplitAfter(f.text, "\n")
	if last := len(ls) - 1; ls[last] == "" {
		ls = ls[:last]
	} else {
		ls[last] += "\n" + noNewline + "\n"
	}
	return ls
}

// noNewline marks a last line without a newline, as git and diff(1) do.
const noNewline = `\ No newline at end of file`
