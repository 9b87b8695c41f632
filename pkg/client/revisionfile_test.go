package client

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRevisionFileKeepsRecentRevisionsOfItsServerAndProject(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "kitaru", "route-revisions.json")
	file := RevisionFile{Path: path, Server: "https://a", Project: "p", Now: func() time.Time { return now }}
	file.keep("f", "stable", 7)
	file.keep("f", "stable", 5) // an older answer never lowers it
	RevisionFile{Path: path, Server: "https://a", Project: "q", Now: file.Now}.keep("f", "stable", 40)
	RevisionFile{Path: path, Server: "https://b", Project: "p", Now: file.Now}.keep("f", "stable", 41)

	c := &Client{}
	file.Attach(c)
	rr := c.routes
	if got := rr.seen[[2]string{"f", "stable"}]; got != 7 {
		t.Errorf("revision of f/stable = %d; want 7, this server and project's", got)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v (%v); want 0600", info.Mode(), err)
	}

	now = now.Add(RevisionFileTTL + time.Second)
	file.keep("g", "live", 1)
	if entries := file.read(); len(entries) != 1 || entries[0].Flow != "g" {
		t.Errorf("entries after the TTL %+v; want only g/live", entries)
	}
	for i := range RevisionFileMax + 5 {
		file.keep("g", "t"+time.Duration(i).String(), int64(i))
	}
	if entries := file.read(); len(entries) != RevisionFileMax {
		t.Errorf("%d entries; want at most %d", len(entries), RevisionFileMax)
	}

	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	file.keep("h", "x", 3)
	if entries := file.read(); len(entries) != 1 || entries[0].Revision != 3 {
		t.Errorf("entries after a corrupt file %+v; want it replaced by h/x", entries)
	}
}
