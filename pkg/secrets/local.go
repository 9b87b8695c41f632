package secrets

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kitaru/deployments/pkg/registry"
)

// Local keeps secrets for kitaru dev: in memory, or in one JSON file of
// mode 0600 (rewritten whole and renamed into place on every change, so a
// crash leaves the old or the new file, never half of one).
type Local struct {
	path string
	now  func() time.Time

	mu       sync.Mutex
	projects map[string]map[string]entry
}

var _ Store = (*Local)(nil)

// entry is one stored secret.
type entry struct {
	Value     string    `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewMemory returns a Local that keeps secrets in memory only.
func NewMemory(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{now: now, projects: map[string]map[string]entry{}}
}

// OpenFile returns a Local that keeps secrets in the file at path, creating
// it (mode 0600) on the first Set. An existing file that others can read is
// refused: its values may already have leaked, and the user should know.
func OpenFile(path string, now func() time.Time) (*Local, error) {
	l := NewMemory(now)
	l.path = path
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open secrets file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets file %s has mode %v, readable by others: chmod 600 it (and consider rotating its secrets)", path, info.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secrets file: %w", err)
	}
	if err := json.Unmarshal(data, &l.projects); err != nil {
		// The error of encoding/json never quotes the input, only offsets.
		return nil, fmt.Errorf("secrets file %s is not valid JSON: %w", path, err)
	}
	if l.projects == nil {
		l.projects = map[string]map[string]entry{}
	}
	return l, nil
}

// Set implements Store.
func (l *Local) Set(_ context.Context, project, name, value string) (Info, error) {
	if err := registry.ValidateSecretName(name); err != nil {
		return Info{}, err
	}
	if err := ValidateValue(value); err != nil {
		return Info{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.now().UTC()
	prev, had := l.projects[project][name]
	if l.projects[project] == nil {
		l.projects[project] = map[string]entry{}
	}
	l.projects[project][name] = entry{Value: value, UpdatedAt: at}
	if err := l.save(); err != nil {
		if had {
			l.projects[project][name] = prev
		} else {
			delete(l.projects[project], name)
		}
		return Info{}, err
	}
	return Info{Name: name, UpdatedAt: at}, nil
}

// List implements Store.
func (l *Local) List(_ context.Context, project string) ([]Info, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Info, 0, len(l.projects[project]))
	for name, e := range l.projects[project] {
		out = append(out, Info{Name: name, UpdatedAt: e.UpdatedAt})
	}
	slices.SortFunc(out, func(a, b Info) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, project, name string) error {
	if err := registry.ValidateSecretName(name); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, ok := l.projects[project][name]
	if !ok {
		return NotFoundError(name)
	}
	delete(l.projects[project], name)
	if err := l.save(); err != nil {
		l.projects[project][name] = prev
		return err
	}
	return nil
}

// Resolve implements Store.
func (l *Local) Resolve(_ context.Context, project string, names []string) (map[string]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	values := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		if e, ok := l.projects[project][n]; ok {
			values[n] = e.Value
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, MissingError(missing)
	}
	return values, nil
}

// save writes the whole store to l.path (when it has one) through a
// temporary file of mode 0600 in the same directory.
func (l *Local) save() error {
	if l.path == "" {
		return nil
	}
	data, err := json.Marshal(l.projects)
	if err != nil {
		return fmt.Errorf("encode secrets: %w", err)
	}
	dir := filepath.Dir(l.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create secrets directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secrets-*.tmp") // CreateTemp makes it 0600
	if err != nil {
		return fmt.Errorf("write secrets: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write secrets: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write secrets: %w", err)
	}
	if err := os.Rename(tmp.Name(), l.path); err != nil {
		return fmt.Errorf("write secrets: %w", err)
	}
	return nil
}
