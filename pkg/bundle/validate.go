package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"path"
	"strings"

	"github.com/kitaru/deployments/pkg/registry"
)

// Info describes a validated bundle.
type Info struct {
	Digest string // "sha256:<hex>" of the compressed bytes
	Size   int64  // compressed bytes
	Files  int    // regular files
}

// Validate reads a gzip'd tar from r and checks that it is safe to unpack and
// runnable: only regular files, directories, and symlinks and hard links that
// stay inside the root; no absolute paths, no "..", no duplicate members;
// entrypointFile (relative to the root; empty skips the check) is a file in
// it; and the sizes are within limits. It reads r to the end and returns the
// digest of what it read.
//
// Errors: invalid_argument (not a gzip'd tar, or an unsafe member, named),
// unprocessable (the entrypoint file is missing), payload_too_large (over a
// limit).
func Validate(r io.Reader, limits Limits, entrypointFile string) (Info, error) {
	limits = limits.withDefaults()
	compressed := &meter{r: r, limit: limits.Compressed, hash: sha256.New()}
	tooLarge := func() error {
		return registry.Errorf(registry.CodePayloadTooLarge, "source bundle is over %s compressed; shrink the project (large data belongs in object storage, not the source tree)", FormatSize(limits.Compressed)).
			WithDetails("limit_bytes", limits.Compressed)
	}
	var unpacked *meter
	fail := func(err error) (Info, error) {
		switch {
		case compressed.exceeded:
			return Info{}, tooLarge()
		case unpacked != nil && unpacked.exceeded:
			return Info{}, unpackedTooLarge(limits)
		}
		return Info{}, err
	}

	zr, err := gzip.NewReader(compressed)
	if err != nil {
		return fail(registry.Errorf(registry.CodeInvalidArgument, "source bundle is not gzip-compressed: send a .tar.gz of the project root"))
	}
	unpacked = &meter{r: zr, limit: limits.Uncompressed}
	tr := tar.NewReader(unpacked)
	t := newTree()
	var declared int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(corrupt(err))
		}
		// Declared sizes are checked before the bytes are inflated.
		if declared += hdr.Size; hdr.Size < 0 || declared > limits.Uncompressed {
			return Info{}, unpackedTooLarge(limits)
		}
		if err := t.addHeader(hdr); err != nil {
			return Info{}, err
		}
	}
	// Read to the end so the gzip checksum is verified and the digest covers
	// every byte.
	if _, err := io.Copy(io.Discard, unpacked); err != nil {
		return fail(corrupt(err))
	}
	if _, err := io.Copy(io.Discard, compressed); err != nil {
		return fail(err)
	}
	if err := t.check(); err != nil {
		return Info{}, err
	}
	if entrypointFile != "" && !t.isFile(path.Clean(entrypointFile)) {
		return Info{}, registry.Errorf(registry.CodeUnprocessable, "entrypoint file %q is not in the source bundle; the path is relative to the project root (the directory where `kitaru init` was run)", clip(entrypointFile)).
			WithDetails("entrypoint", clip(entrypointFile))
	}
	return Info{
		Digest: DigestPrefix + hex.EncodeToString(compressed.hash.Sum(nil)),
		Size:   compressed.n,
		Files:  t.files,
	}, nil
}

func unpackedTooLarge(limits Limits) error {
	return registry.Errorf(registry.CodePayloadTooLarge, "source bundle unpacks to over %s; shrink the project (large data belongs in object storage, not the source tree)", FormatSize(limits.Uncompressed)).
		WithDetails("limit_bytes", limits.Uncompressed)
}

func corrupt(err error) error {
	return registry.Errorf(registry.CodeInvalidArgument, "source bundle is not a valid .tar.gz: %v", err)
}

// meter counts (and optionally hashes) what is read through it and fails once
// more than limit bytes were read.
type meter struct {
	r        io.Reader
	n        int64
	limit    int64
	hash     hash.Hash
	exceeded bool
}

var errOverLimit = errors.New("over the size limit")

func (m *meter) Read(p []byte) (int, error) {
	if m.exceeded {
		return 0, errOverLimit
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	if m.hash != nil {
		m.hash.Write(p[:n])
	}
	if m.n > m.limit {
		m.exceeded = true
		return n, errOverLimit
	}
	return n, err
}

// Member kinds of a tree.
type kind int

const (
	kindDir kind = iota
	kindFile
	kindSymlink
)

// maxLinkHops bounds symlink resolution, like the kernel's ELOOP.
const maxLinkHops = 40

// tree is the set of members of an archive; it checks what only the whole
// archive tells: symlinks that escape through other symlinks, members below
// a symlink, the entrypoint.
type tree struct {
	kinds map[string]kind
	names []string          // in archive order, for stable errors
	links map[string]string // symlink → target
	order []string          // symlinks in archive order
	files int
}

func newTree() *tree {
	return &tree{kinds: map[string]kind{}, links: map[string]string{}}
}

func invalidMember(name, format string, args ...any) error {
	return registry.Errorf(registry.CodeInvalidArgument, "source bundle member %q "+format, append([]any{clip(name)}, args...)...).
		WithDetails("member", clip(name))
}

// memberName normalizes a member name: no leading ./, no trailing /. It
// refuses absolute names and "..".
func memberName(raw string) (string, error) {
	name := strings.TrimPrefix(raw, "./")
	switch {
	case strings.HasPrefix(name, "/") || hasDrive(name):
		return "", invalidMember(raw, "is an absolute path; members must be relative to the project root")
	case hasDotDot(name):
		return "", invalidMember(raw, "contains \"..\"; members must stay inside the project root")
	}
	return path.Clean("./" + name), nil
}

func (t *tree) addHeader(hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // metadata, e.g. the commit `git archive` records
	}
	name, err := memberName(hdr.Name)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return t.add(name, kindDir)
	case tar.TypeReg: // the reader reports old-style TypeRegA members as TypeReg
		t.files++
		return t.add(name, kindFile)
	case tar.TypeSymlink:
		if strings.HasPrefix(hdr.Linkname, "/") || hasDrive(hdr.Linkname) {
			return invalidMember(name, "is a symlink to the absolute path %q; only links inside the project root are allowed", clip(hdr.Linkname))
		}
		if err := t.add(name, kindSymlink); err != nil {
			return err
		}
		t.links[name] = hdr.Linkname
		t.order = append(t.order, name)
		return nil
	case tar.TypeLink:
		// A hard link names an earlier member, not a path to resolve.
		target, err := memberName(hdr.Linkname)
		if k, ok := t.kinds[target]; err != nil || !ok || k != kindFile {
			return invalidMember(name, "is a hard link to %q, which is not a file earlier in the bundle; only links inside the project root are allowed", clip(hdr.Linkname))
		}
		t.files++
		return t.add(name, kindFile)
	case tar.TypeChar, tar.TypeBlock:
		return invalidMember(name, "is a device; a source bundle holds only files, directories and symlinks")
	case tar.TypeFifo:
		return invalidMember(name, "is a FIFO; a source bundle holds only files, directories and symlinks")
	}
	return invalidMember(name, "has unsupported tar type %q; a source bundle holds only files, directories and symlinks", string(hdr.Typeflag))
}

func (t *tree) add(name string, k kind) error {
	if name == "." {
		if k == kindDir {
			return nil // the root itself
		}
		return invalidMember(name, "names the project root but is not a directory")
	}
	if prev, dup := t.kinds[name]; dup && (prev != kindDir || k != kindDir) {
		return invalidMember(name, "appears twice; each path may appear once")
	}
	if _, dup := t.kinds[name]; !dup {
		t.names = append(t.names, name)
	}
	t.kinds[name] = k
	return nil
}

// check verifies what needs the whole archive: no member below a symlink or
// a file, and every symlink resolving inside the root.
func (t *tree) check() error {
	for _, name := range t.names {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			switch t.kinds[dir] {
			case kindSymlink:
				return invalidMember(name, "is inside %q, which is a symlink; archive the link's target instead", dir)
			case kindFile:
				return invalidMember(name, "is inside %q, which is a file", dir)
			}
		}
	}
	for _, name := range t.order {
		target := t.links[name]
		if _, err := t.resolve(path.Dir(name)+"/"+target, new(int)); err != nil {
			return invalidMember(name, "is a symlink to %q, which %v; only links inside the project root are allowed", clip(target), err)
		}
	}
	return nil
}

var (
	errEscapes = errors.New("leaves the project root")
	errLoop    = errors.New("is a symlink loop")
)

// resolve follows p (slash-separated, from the root) through the tree's
// symlinks component by component, as the kernel would after unpacking,
// and returns the resolved path's components. ".." is applied to the
// resolved prefix, never lexically, so a link through another link cannot
// escape unseen.
func (t *tree) resolve(p string, hops *int) ([]string, error) {
	var cur []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return nil, errEscapes
			}
			cur = cur[:len(cur)-1]
			continue
		}
		next := append(cur[:len(cur):len(cur)], seg)
		target, isLink := t.links[strings.Join(next, "/")]
		if !isLink {
			cur = next
			continue
		}
		if *hops++; *hops > maxLinkHops {
			return nil, errLoop
		}
		resolved, err := t.resolve(strings.Join(cur, "/")+"/"+target, hops)
		if err != nil {
			return nil, err
		}
		cur = resolved
	}
	return cur, nil
}

// isFile reports whether name resolves to a regular file of the tree.
func (t *tree) isFile(name string) bool {
	resolved, err := t.resolve(name, new(int))
	return err == nil && t.kinds[strings.Join(resolved, "/")] == kindFile
}
