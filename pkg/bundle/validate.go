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
	_, info, err := validate(r, limits, entrypointFile, nil)
	return info, err
}

// validate is Validate, also returning the tree it built (for tests of its
// cost); visit, when not nil, is called with each file and link as it is
// read (see Read).
func validate(r io.Reader, limits Limits, entrypointFile string, visit func(Entry) error) (*tree, Info, error) {
	limits = limits.WithDefaults()
	compressed := &meter{r: r, limit: limits.Compressed, hash: sha256.New()}
	tooLarge := func() error {
		return registry.Errorf(registry.CodePayloadTooLarge, "source bundle is over %s compressed; shrink the project (large data belongs in object storage, not the source tree)", FormatSize(limits.Compressed)).
			WithDetails("limit_bytes", limits.Compressed)
	}
	var unpacked *meter
	fail := func(err error) (*tree, Info, error) {
		switch {
		case compressed.exceeded:
			return nil, Info{}, tooLarge()
		case unpacked != nil && unpacked.exceeded:
			return nil, Info{}, unpackedTooLarge(limits)
		}
		return nil, Info{}, err
	}

	zr, err := gzip.NewReader(compressed)
	if err != nil {
		return fail(registry.Errorf(registry.CodeInvalidArgument, "source bundle is not gzip-compressed: send a .tar.gz of the project root"))
	}
	unpacked = &meter{r: zr, limit: limits.Uncompressed}
	tr := tar.NewReader(unpacked)
	t := newTree()
	members := 0
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
			return nil, Info{}, unpackedTooLarge(limits)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // metadata, e.g. the commit `git archive` records
		}
		if members++; members > MaxMembers {
			return nil, Info{}, tooManyMembers()
		}
		name, err := t.addHeader(hdr)
		if err != nil {
			return nil, Info{}, err
		}
		if visit != nil && hdr.Typeflag != tar.TypeDir {
			if err := visit(entryOf(hdr, name, tr)); err != nil {
				return fail(err)
			}
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
		return nil, Info{}, err
	}
	if entrypointFile != "" && !t.isFile(path.Clean(entrypointFile)) {
		return nil, Info{}, registry.Errorf(registry.CodeUnprocessable, "entrypoint file %q is not in the source bundle; the path is relative to the project root, which is the root of the bundle", clip(entrypointFile)).
			WithDetails("entrypoint", clip(entrypointFile))
	}
	return t, Info{
		Digest: DigestPrefix + hex.EncodeToString(compressed.hash.Sum(nil)),
		Size:   compressed.n,
		Files:  t.files,
	}, nil
}

func unpackedTooLarge(limits Limits) error {
	return registry.Errorf(registry.CodePayloadTooLarge, "source bundle unpacks to over %s; shrink the project (large data belongs in object storage, not the source tree)", FormatSize(limits.Uncompressed)).
		WithDetails("limit_bytes", limits.Uncompressed)
}

func tooManyMembers() error {
	return registry.Errorf(registry.CodeUnprocessable, "source bundle has more than %d members, which the runner refuses to unpack; leave generated files, data and dependencies out of the project tree", MaxMembers).
		WithDetails("limit", MaxMembers)
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
type kind uint8

const (
	kindImplied kind = iota // a directory only named as an ancestor of members
	kindDir
	kindFile
	kindSymlink
)

// maxLinkHops bounds the links one resolution follows, like the kernel's ELOOP.
const maxLinkHops = 40

// Resolution states of a symlink.
const (
	unresolved uint8 = iota
	resolving
	resolved
)

// root is the tree's node for the project root.
const root int32 = 0

// node is one path of the tree: a member, or a directory its members imply.
type node struct {
	parent int32
	kind   kind
	name   string // the member's normalized name; empty for implied directories
	target string // a symlink's target

	// A symlink's resolution, computed once (see resolveLink).
	state   uint8
	hops    uint8 // links followed to resolve it, itself included
	at      int32 // the deepest existing node it resolves to
	virtual int32 // segments below at that no member names
	err     error
}

// childKey names a node by its parent and last segment.
type childKey struct {
	parent int32
	seg    string
}

// tree is the set of members of an archive as a trie of path segments; it
// checks what only the whole archive tells: symlinks that escape through
// other symlinks, members below a symlink, the entrypoint. Every check walks
// each name and target once, and each symlink is resolved once and
// remembered, so the cost is linear in the archive's names and targets.
type tree struct {
	nodes    []node
	children map[childKey]int32
	order    []int32 // members in archive order, for stable errors
	links    []int32 // symlinks in archive order
	files    int
	steps    int // segments resolution stepped through (tests of its cost)
}

func newTree() *tree {
	return &tree{nodes: []node{{parent: -1, kind: kindDir}}, children: map[childKey]int32{}}
}

func invalidMember(name, format string, args ...any) *registry.Error {
	return registry.Errorf(registry.CodeInvalidArgument, "source bundle member %q "+format, append([]any{clip(name)}, args...)...).
		WithDetails("member", clip(name))
}

// checkPathCaps enforces the length and segment caps on a member name or
// link target, before anything looks at its segments.
func checkPathCaps(member, p, what string, maxBytes int) error {
	if len(p) > maxBytes {
		return invalidMember(member, "has a %s of %d bytes; it may be at most %d bytes", what, len(p), maxBytes).
			WithDetails("limit", maxBytes)
	}
	if n := strings.Count(p, "/") + 1; n > MaxPathSegments {
		return invalidMember(member, "has a %s of %d path segments; it may have at most %d", what, n, MaxPathSegments).
			WithDetails("limit", MaxPathSegments)
	}
	return nil
}

// memberName normalizes a member name: no leading ./, no trailing /. It
// refuses names over the caps, absolute names and "..".
func memberName(raw string) (string, error) {
	if err := checkPathCaps(raw, raw, "name", MaxNameBytes); err != nil {
		return "", err
	}
	name := strings.TrimPrefix(raw, "./")
	switch {
	case strings.HasPrefix(name, "/") || hasDrive(name):
		return "", invalidMember(raw, "is an absolute path; members must be relative to the project root")
	case hasDotDot(name):
		return "", invalidMember(raw, "contains \"..\"; members must stay inside the project root")
	}
	return path.Clean("./" + name), nil
}

// addHeader records a member and returns its normalized name.
func (t *tree) addHeader(hdr *tar.Header) (string, error) {
	name, err := memberName(hdr.Name)
	if err != nil {
		return "", err
	}
	return name, t.addMember(hdr, name)
}

func (t *tree) addMember(hdr *tar.Header, name string) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		_, err := t.add(name, kindDir)
		return err
	case tar.TypeReg: // the reader reports old-style TypeRegA members as TypeReg
		t.files++
		_, err := t.add(name, kindFile)
		return err
	case tar.TypeSymlink:
		if err := checkPathCaps(name, hdr.Linkname, "link target", MaxLinkTargetBytes); err != nil {
			return err
		}
		if strings.HasPrefix(hdr.Linkname, "/") || hasDrive(hdr.Linkname) {
			return invalidMember(name, "is a symlink to the absolute path %q; only links inside the project root are allowed", clip(hdr.Linkname))
		}
		id, err := t.add(name, kindSymlink)
		if err != nil {
			return err
		}
		t.nodes[id].target = hdr.Linkname
		t.links = append(t.links, id)
		return nil
	case tar.TypeLink:
		if err := checkPathCaps(name, hdr.Linkname, "link target", MaxLinkTargetBytes); err != nil {
			return err
		}
		// A hard link names an earlier member, not a path to resolve.
		target, err := memberName(hdr.Linkname)
		if id, ok := t.lookup(target); err != nil || !ok || t.nodes[id].kind != kindFile {
			return invalidMember(name, "is a hard link to %q, which is not a file earlier in the bundle; only links inside the project root are allowed", clip(hdr.Linkname))
		}
		t.files++
		_, err = t.add(name, kindFile)
		return err
	case tar.TypeChar, tar.TypeBlock:
		return invalidMember(name, "is a device; a source bundle holds only files, directories and symlinks")
	case tar.TypeFifo:
		return invalidMember(name, "is a FIFO; a source bundle holds only files, directories and symlinks")
	}
	return invalidMember(name, "has unsupported tar type %q; a source bundle holds only files, directories and symlinks", string(hdr.Typeflag))
}

// segments calls fn with each /-separated segment of p, in order, without
// allocating; fn returning false stops it.
func segments(p string, fn func(seg string) bool) {
	for p != "" {
		seg, rest, _ := strings.Cut(p, "/")
		if !fn(seg) {
			return
		}
		p = rest
	}
}

// lookup returns the node of a normalized name, if the tree has it.
func (t *tree) lookup(name string) (int32, bool) {
	cur, ok := root, true
	if name == "." {
		return root, true
	}
	segments(name, func(seg string) bool {
		cur, ok = t.children[childKey{cur, seg}]
		return ok
	})
	return cur, ok
}

// add records a member with its normalized name, creating the directories
// its name implies, and returns its node.
func (t *tree) add(name string, k kind) (int32, error) {
	if name == "." {
		if k == kindDir {
			return root, nil // the root itself
		}
		return 0, invalidMember(name, "names the project root but is not a directory")
	}
	cur := root
	var err error
	segments(name, func(seg string) bool {
		key := childKey{cur, seg}
		next, ok := t.children[key]
		if !ok {
			if len(t.nodes) >= MaxPaths {
				err = registry.Errorf(registry.CodeUnprocessable, "source bundle names more than %d paths (members and the directories they imply); leave generated files, data and dependencies out of the project tree", MaxPaths).
					WithDetails("limit", MaxPaths)
				return false
			}
			next = int32(len(t.nodes))
			t.nodes = append(t.nodes, node{parent: cur, kind: kindImplied})
			t.children[key] = next
		}
		cur = next
		return true
	})
	if err != nil {
		return 0, err
	}
	n := &t.nodes[cur]
	switch {
	case n.kind == kindImplied:
		n.kind, n.name = k, name
		t.order = append(t.order, cur)
	case n.kind != kindDir || k != kindDir:
		return 0, invalidMember(name, "appears twice; each path may appear once")
	}
	return cur, nil
}

// check verifies what needs the whole archive: no member below a symlink or
// a file, and every symlink resolving inside the root.
func (t *tree) check() error {
	for _, id := range t.order {
		for dir := t.nodes[id].parent; dir != root; dir = t.nodes[dir].parent {
			switch t.nodes[dir].kind {
			case kindSymlink:
				return invalidMember(t.nodes[id].name, "is inside %q, which is a symlink; archive the link's target instead", t.nodes[dir].name)
			case kindFile:
				return invalidMember(t.nodes[id].name, "is inside %q, which is a file", t.nodes[dir].name)
			}
		}
	}
	for _, id := range t.links {
		if err := t.resolveLink(id); err != nil {
			n := &t.nodes[id]
			return invalidMember(n.name, "is a symlink to %q, which %v; only links inside the project root are allowed", clip(n.target), err)
		}
	}
	return nil
}

var (
	errEscapes = errors.New("leaves the project root")
	errLoop    = errors.New("is a symlink loop")
)

// resolveLink resolves the symlink at node id once: its target, from the
// link's directory, as the kernel would after unpacking. A link met again
// while it is being resolved is a loop.
func (t *tree) resolveLink(id int32) error {
	n := &t.nodes[id]
	switch n.state {
	case resolved:
		return n.err
	case resolving:
		return errLoop
	}
	n.state = resolving
	at, virtual, hops, err := t.walk(n.parent, n.target)
	n = &t.nodes[id]
	if hops++; err == nil && hops > maxLinkHops {
		err = errLoop
	}
	n.state, n.at, n.virtual, n.err = resolved, at, virtual, err
	n.hops = uint8(min(hops, maxLinkHops+1))
	return err
}

// walk follows the slash-separated path p from node start through the
// tree's symlinks segment by segment. It returns the deepest existing node
// reached, how many segments below it no member names (those are followed
// lexically: no link can be there), and how many links it followed. ".." is
// applied to the resolved location, never to the spelling, so a link through
// another link cannot escape unseen.
func (t *tree) walk(start int32, p string) (at, virtual int32, hops int, err error) {
	at = start
	segments(p, func(seg string) bool {
		t.steps++
		switch {
		case seg == "" || seg == ".":
		case seg == "..":
			switch {
			case virtual > 0:
				virtual--
			case at == root:
				err = errEscapes
			default:
				at = t.nodes[at].parent
			}
		case virtual > 0:
			virtual++
		default:
			child, ok := t.children[childKey{at, seg}]
			switch {
			case !ok:
				virtual = 1
			case t.nodes[child].kind != kindSymlink:
				at = child
			default:
				if err = t.resolveLink(child); err != nil {
					return false
				}
				link := &t.nodes[child]
				if hops += int(link.hops); hops > maxLinkHops {
					err = errLoop
					return false
				}
				at, virtual = link.at, link.virtual
			}
		}
		return err == nil
	})
	return at, virtual, hops, err
}

// isFile reports whether name resolves to a regular file of the tree.
func (t *tree) isFile(name string) bool {
	if len(name) > MaxNameBytes {
		return false
	}
	at, virtual, _, err := t.walk(root, name)
	return err == nil && virtual == 0 && t.nodes[at].kind == kindFile
}
