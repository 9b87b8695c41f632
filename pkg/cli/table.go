package cli

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// table prints aligned columns: a header row, then one row per call, on
// flush.
type table struct {
	out  io.Writer
	buf  bytes.Buffer
	cols *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{out: w}
	t.cols = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.cols, strings.Join(cells, "\t")) }

// flush writes the table without the padding an empty last cell leaves.
func (t *table) flush() error {
	if err := t.cols.Flush(); err != nil {
		return err
	}
	for line := range strings.Lines(t.buf.String()) {
		if _, err := io.WriteString(t.out, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// exclusiveNote ends output that marks exclusive tags.
const exclusiveNote = "(* exclusive)"

// markedTags lists tags by name, sorted, exclusive ones marked *, and says
// whether any was marked.
func markedTags(tags map[string]bool) (list string, marked bool) {
	names := make([]string, 0, len(tags))
	for name, exclusive := range tags {
		if exclusive {
			name += "*"
			marked = true
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ", "), marked
}

// formatTags lists tags by name, exclusive ones marked *, with the note
// explaining the mark.
func formatTags(tags map[string]bool) string {
	if len(tags) == 0 {
		return "(none)"
	}
	s, marked := markedTags(tags)
	if marked {
		s += "  " + exclusiveNote
	}
	return s
}

// tagName is a tag's name, marked * when exclusive.
func tagName(name string, exclusive bool) string {
	if exclusive {
		return name + "*"
	}
	return name
}

// formatVersions lists versions as "1, 2", or "-" for none.
func formatVersions(vs []int) string {
	if len(vs) == 0 {
		return "-"
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

// formatVersion is a version that may be absent, "-" then.
func formatVersion(v *int) string {
	if v == nil {
		return "-"
	}
	return strconv.Itoa(*v)
}

// formatTime is a time in tables: UTC to the second, "-" when unset.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// formatDuration is how long an execution ran (or has been running, at now).
func formatDuration(e registry.Execution, now time.Time) string {
	if e.StartedAt.IsZero() {
		return "-"
	}
	end := now
	if e.EndedAt != nil {
		end = *e.EndedAt
	}
	return end.Sub(e.StartedAt).Round(100 * time.Millisecond).String()
}

// orDash is s, or "-" when it is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
