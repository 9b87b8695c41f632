package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// RevisionFile keeps the route revisions a server answered changes with
// across processes, beside the config file, so that one CLI command reads
// the route an earlier one changed at once from a server's route cache
// (`kitaru flow tag …` then `kitaru invoke …`: docs/route-cache.md). An
// entry matters only for the cache's bound after its change (at most a
// minute), so entries older than RevisionFileTTL are dropped, and at most
// RevisionFileMax are kept. The file is a hint: one that cannot be read or
// written costs at most the bound's staleness, never a failed command, and
// two commands writing at once may lose one's entry the same way.
type RevisionFile struct {
	Path string
	// Server and Project scope the entries this client reads and writes.
	Server, Project string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// RevisionFileTTL is how long an entry is kept: well past the longest
// route cache bound a server takes (1 minute).
const RevisionFileTTL = 10 * time.Minute

// RevisionFileMax bounds the entries kept.
const RevisionFileMax = 1000

// RevisionFilePath is the revision file beside the config file at configPath.
func RevisionFilePath(configPath string) string {
	return filepath.Join(filepath.Dir(configPath), "route-revisions.json")
}

type revisionEntry struct {
	Server   string    `json:"server"`
	Project  string    `json:"project"`
	Flow     string    `json:"flow"`
	Tag      string    `json:"tag"`
	Revision int64     `json:"revision"`
	At       time.Time `json:"at"`
}

// Attach gives c the revisions earlier processes kept for f's server and
// project, and keeps in f each revision c is answered with.
func (f RevisionFile) Attach(c *Client) {
	rr := &RouteRevisions{}
	for _, e := range f.read() {
		if e.Server == f.Server && e.Project == f.Project {
			rr.Remember(e.Flow, e.Tag, e.Revision)
		}
	}
	rr.OnChange = f.keep
	c.SetRouteRevisions(rr)
}

func (f RevisionFile) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// read returns the file's entries younger than RevisionFileTTL; none when
// it is missing or unreadable.
func (f RevisionFile) read() []revisionEntry {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil
	}
	var entries []revisionEntry
	if json.Unmarshal(data, &entries) != nil {
		return nil
	}
	cutoff := f.now().Add(-RevisionFileTTL)
	return slices.DeleteFunc(entries, func(e revisionEntry) bool { return e.At.Before(cutoff) })
}

// keep records revision for flow's tag, replacing an older entry of it.
func (f RevisionFile) keep(flow, tag string, revision int64) {
	entry := revisionEntry{Server: f.Server, Project: f.Project, Flow: flow, Tag: tag, Revision: revision, At: f.now()}
	same := func(e revisionEntry) bool {
		return e.Server == entry.Server && e.Project == entry.Project && e.Flow == entry.Flow && e.Tag == entry.Tag
	}
	entries := f.read()
	if i := slices.IndexFunc(entries, same); i >= 0 {
		entry.Revision = max(entry.Revision, entries[i].Revision)
		entries = slices.Delete(entries, i, i+1)
	}
	entries = append(entries, entry)
	if len(entries) > RevisionFileMax {
		entries = entries[len(entries)-RevisionFileMax:]
	}
	data, err := json.Marshal(entries)
	if err == nil {
		_ = writePrivateFile(f.Path, data) // a hint: see the type's comment
	}
}
