package bundle

import (
	"archive/tar"
	"io"
)

// EntryKind is what a bundle member Read visits is.
type EntryKind string

// The kinds of entry Read visits; directories are not visited.
const (
	EntryFile     EntryKind = "file"
	EntrySymlink  EntryKind = "symlink"
	EntryHardLink EntryKind = "hardlink"
)

// Entry is one file or link of a bundle, as Read visits it.
type Entry struct {
	// Name is the member's path relative to the project root, normalized
	// (no leading ./, no trailing /), and checked to stay inside the root.
	Name string
	Kind EntryKind
	// Size is the byte count of a file's content; 0 for links.
	Size int64
	// Target is a symlink's target as archived, or the normalized name of
	// the earlier file a hard link shares content with.
	Target string
	// Content reads a file's Size bytes; it is valid only during the visit.
	// Links have no content.
	Content io.Reader
}

// Read checks a bundle as Validate does (same limits, same refusals) and
// calls visit with each file and link while the archive is read, in archive
// order, so a caller can look at the content without a second parser.
// Some refusals need the whole archive (a symlink escaping through another),
// so visit may have seen members of a bundle Read then refuses: whatever
// visit gathered is to be trusted only when Read returns nil. An error from
// visit stops the read and is returned as it is.
//
// Errors: those of Validate, and visit's.
func Read(r io.Reader, limits Limits, visit func(Entry) error) (Info, error) {
	_, info, err := validate(r, limits, "", visit)
	return info, err
}

// entryOf is the Entry of a member addHeader accepted under name; content
// reads the member's bytes.
func entryOf(hdr *tar.Header, name string, content io.Reader) Entry {
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		return Entry{Name: name, Kind: EntrySymlink, Target: hdr.Linkname}
	case tar.TypeLink:
		// addHeader accepted the target as an earlier file's name.
		target, _ := memberName(hdr.Linkname)
		return Entry{Name: name, Kind: EntryHardLink, Target: target}
	}
	return Entry{Name: name, Kind: EntryFile, Size: hdr.Size, Content: io.LimitReader(content, hdr.Size)}
}
