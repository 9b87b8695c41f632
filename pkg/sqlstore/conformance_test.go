package sqlstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/kitaru/deployments/pkg/registry/storetest"
	"github.com/kitaru/deployments/pkg/sqlstore"
)

// engine opens a fresh store per case: in a file of t's temporary
// directory, or in memory.
func engine(name string, inFile bool) storetest.Engine {
	return storetest.Engine{Name: name, Open: func(t testing.TB, now func() time.Time) storetest.Store {
		return openStore(t, inFile, now)
	}, FlowState: func(t testing.TB, s storetest.Store, project, flow string) string {
		rows, err := s.(*sqlstore.Store).FlowRows(project, flow)
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}, LimitTags: func(s storetest.Store, n int) { s.(*sqlstore.Store).LimitLiveTags(n) }}
}

func openStore(t testing.TB, inFile bool, now func() time.Time) *sqlstore.Store {
	t.Helper()
	path := sqlstore.Memory
	if inFile {
		path = filepath.Join(t.TempDir(), "registry.db")
	}
	var opts []sqlstore.Option
	if now != nil {
		opts = append(opts, sqlstore.WithClock(now))
	}
	s, err := sqlstore.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Run("file", func(t *testing.T) { storetest.Run(t, engine("sqlite file", true)) })
	t.Run("memory", func(t *testing.T) { storetest.Run(t, engine("sqlite memory", false)) })
}
