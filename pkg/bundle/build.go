package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Bundle is a built source bundle.
type Bundle struct {
	Data   []byte // the gzip'd tar
	Digest string // "sha256:<hex>" of Data
	Size   int64  // len(Data)
}

// skippedDirs are directories never bundled, wherever they are: VCS data,
// byte code, virtual environments and dependencies the runner does not use.
var skippedDirs = map[string]bool{
	".git":         true,
	"__pycache__":  true,
	".venv":        true,
	"venv":         true,
	"node_modules": true,
}

// skippedRootPaths are skipped only at these paths below the root.
var skippedRootPaths = map[string]bool{
	ProjectDir + "/cache": true,
}

// epoch is the modification time of every member, so that the same tree
// gives the same bytes.
var epoch = time.Unix(0, 0)

// member is one file, directory or symlink to archive.
type member struct {
	name   string // slash-separated, relative to the root; directories end in /
	osPath string
	mode   fs.FileMode
	link   string // symlink target, relative
}

// Build archives the project root as a deterministic gzip'd tar: members in
// path order, zero mtimes and owners, modes 0644 or 0755, and a gzip header
// without name or time, so that the same tree always gives the same bytes and
// is stored once. VCS data, caches and virtual environments are skipped.
// Symlinks are kept when they point inside root; one pointing outside is an
// error (invalid_argument), as is a device, FIFO or socket.
func Build(root string) (Bundle, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return Bundle{}, fmt.Errorf("bundle %s: %w", root, err)
	}
	// The walk does not follow a symlinked root; walk what it points to.
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return Bundle{}, fmt.Errorf("bundle %s: %w", root, err)
	}
	members, err := collect(abs)
	if err != nil {
		return Bundle{}, err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return Bundle{}, err
	}
	tw := tar.NewWriter(zw)
	for _, m := range members {
		if err := writeMember(tw, m); err != nil {
			return Bundle{}, fmt.Errorf("bundle %s: %w", m.osPath, err)
		}
	}
	if err := tw.Close(); err != nil {
		return Bundle{}, fmt.Errorf("bundle %s: %w", abs, err)
	}
	if err := zw.Close(); err != nil {
		return Bundle{}, fmt.Errorf("bundle %s: %w", abs, err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return Bundle{Data: buf.Bytes(), Digest: DigestPrefix + hex.EncodeToString(sum[:]), Size: int64(buf.Len())}, nil
}

// collect lists the members under root in path order.
func collect(root string) ([]member, error) {
	var members []member
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("bundle %s: %w", p, err)
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("bundle %s: %w", p, err)
		}
		mode := info.Mode()
		switch {
		case d.IsDir():
			if skippedDirs[d.Name()] || skippedRootPaths[name] {
				return filepath.SkipDir
			}
			members = append(members, member{name: name + "/", osPath: p, mode: mode})
		case mode.IsRegular():
			if strings.HasSuffix(d.Name(), ".pyc") {
				return nil
			}
			members = append(members, member{name: name, osPath: p, mode: mode})
		case mode&fs.ModeSymlink != 0:
			target, err := insideLink(root, p, name)
			if err != nil {
				return err
			}
			members = append(members, member{name: name, osPath: p, mode: mode, link: target})
		default:
			return registry.Errorf(registry.CodeInvalidArgument, "%s is a %s; a source bundle holds only files, directories and symlinks inside the project: move it out of %s", p, kindOf(mode), root)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(members, func(i, j int) bool { return members[i].name < members[j].name })
	// Relative links can still escape through other links (a/up -> ..,
	// b -> a/up/..); check them the way Validate will.
	t := newTree()
	for _, m := range members {
		k := kindFile
		switch {
		case m.mode.IsDir():
			k = kindDir
		case m.link != "":
			k = kindSymlink
		}
		id, err := t.add(strings.TrimSuffix(m.name, "/"), k)
		if err != nil {
			return nil, err
		}
		if k == kindSymlink {
			t.nodes[id].target = m.link
			t.links = append(t.links, id)
		}
	}
	if err := t.check(); err != nil {
		return nil, fmt.Errorf("bundle %s: %w", root, err)
	}
	return members, nil
}

// insideLink returns the target of the symlink at p as a path relative to
// the link's directory, or an error when it points outside root.
func insideLink(root, p, name string) (string, error) {
	target, err := os.Readlink(p)
	if err != nil {
		return "", fmt.Errorf("bundle %s: %w", p, err)
	}
	outside := registry.Errorf(registry.CodeInvalidArgument, "symlink %s points to %s, outside the project root %s; copy the target into the project or remove the link", name, target, root).
		WithDetails("member", name)
	if filepath.IsAbs(target) {
		// An absolute target inside the root is stored relative, since the
		// bundle is unpacked elsewhere.
		if resolved, err := filepath.EvalSymlinks(target); err == nil {
			target = resolved
		}
		rel, err := filepath.Rel(root, target)
		if err != nil || !filepath.IsLocal(rel) {
			return "", outside
		}
		if target, err = filepath.Rel(filepath.Dir(p), target); err != nil {
			return "", outside
		}
	}
	return filepath.ToSlash(target), nil
}

func writeMember(tw *tar.Writer, m member) error {
	hdr := &tar.Header{Name: m.name, ModTime: epoch, Mode: 0o644, Format: tar.FormatPAX}
	switch {
	case m.mode.IsDir():
		hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
	case m.mode&fs.ModeSymlink != 0:
		hdr.Typeflag, hdr.Mode, hdr.Linkname = tar.TypeSymlink, 0o777, m.link
	default:
		hdr.Typeflag = tar.TypeReg
		if m.mode&0o100 != 0 {
			hdr.Mode = 0o755
		}
	}
	if hdr.Typeflag != tar.TypeReg {
		return tw.WriteHeader(hdr)
	}
	f, err := os.Open(m.osPath)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	hdr.Size = info.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	// A file that grows while it is read is cut at its stat size; one that
	// shrinks is an error from the tar writer.
	if _, err := io.Copy(tw, io.LimitReader(f, hdr.Size)); err != nil {
		return err
	}
	return nil
}

func kindOf(mode fs.FileMode) string {
	switch {
	case mode&fs.ModeNamedPipe != 0:
		return "FIFO"
	case mode&fs.ModeSocket != 0:
		return "socket"
	case mode&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
