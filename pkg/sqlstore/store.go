// Package sqlstore is the registry on embedded SQLite (modernc.org/sqlite,
// pure Go, no cgo): what `kitaru dev` keeps its data in by default, in a
// file or in memory. It implements the same contracts as pkg/dynamo, with
// the invariants enforced by transactions and by the schema's keys,
// constraints and triggers (docs/embedded-store.md).
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"modernc.org/sqlite"

	"github.com/kitaru/deployments/pkg/auth"
	"github.com/kitaru/deployments/pkg/registry"
)

// Memory is the path Open takes for a database that lives in memory only.
const Memory = ":memory:"

// Store is the registry on SQLite. Writes go through one connection in
// BEGIN IMMEDIATE transactions, so concurrent writers queue instead of
// failing; reads use a pool of their own (WAL lets them run beside a write).
type Store struct {
	writer *sql.DB
	reader *sql.DB
	now    func() time.Time
	path   string
	// maxLiveTags is registry.MaxLiveTags unless a test lowers it.
	maxLiveTags int
}

var (
	_ registry.Store            = (*Store)(nil)
	_ registry.ExecutionStore   = (*Store)(nil)
	_ registry.IdempotencyStore = (*Store)(nil)
	_ auth.KeyStore             = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the time source (tests make it deterministic).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// busyTimeout is how long a statement waits for a lock another process
// holds (this process's writers queue on the one write connection).
const busyTimeout = 10 * time.Second

// readers bounds the read connections of a file database.
const readers = 4

// Open opens (creating if missing) the database at path, or an in-memory
// one for Memory, and brings its schema to this version. A file written by
// a newer schema is refused, untouched.
func Open(path string, opts ...Option) (*Store, error) {
	s := &Store{now: time.Now, path: path, maxLiveTags: registry.MaxLiveTags}
	for _, o := range opts {
		o(s)
	}
	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)", busyTimeout.Milliseconds())
	if path == Memory {
		// One connection: every connection to ":memory:" is a database of
		// its own, so reads and writes share the one that holds the data.
		name, err := memoryName()
		if err != nil {
			return nil, err
		}
		db, err := sql.Open("sqlite", "file:"+name+"?mode=memory&"+pragmas+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open the in-memory registry: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		s.writer, s.reader = db, db
	} else {
		uri := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas + "&_pragma=synchronous(NORMAL)"
		w, err := sql.Open("sqlite", uri+"&_txlock=immediate")
		if err != nil {
			return nil, fmt.Errorf("open the registry %s: %w", path, err)
		}
		w.SetMaxOpenConns(1)
		w.SetConnMaxIdleTime(0)
		s.writer = w
		r, err := sql.Open("sqlite", uri+"&_query_only=1")
		if err != nil {
			_ = w.Close()
			return nil, fmt.Errorf("open the registry %s: %w", path, err)
		}
		r.SetMaxOpenConns(readers)
		r.SetMaxIdleConns(readers)
		s.reader = r
	}
	if err := s.migrate(context.Background()); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// memoryName is a fresh name for an in-memory database, so that two stores
// in one process never share one.
func memoryName() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "kitaru-" + hex.EncodeToString(b), nil
}

// Close closes the database; a file keeps everything committed.
func (s *Store) Close() error {
	err := s.writer.Close()
	if s.reader != s.writer {
		err = errors.Join(err, s.reader.Close())
	}
	return err
}

// queryer is what both *sql.Tx and *sql.DB offer; helpers take it so that
// they run inside the caller's transaction.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// write runs fn in one write transaction (BEGIN IMMEDIATE on the single
// write connection) and commits it when fn returns nil.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, s.writer, op, fn)
}

// read runs fn in one read transaction: every read in it sees one snapshot.
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	return inTx(ctx, s.reader, op, fn)
}

func inTx(ctx context.Context, db *sql.DB, op string, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return dbError(op, err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return dbError(op, err)
	}
	if err := tx.Commit(); err != nil {
		return dbError(op, err)
	}
	return nil
}

// dbError passes domain errors through and wraps engine errors with op.
// A lock that did not come free in time, or a cancelled request, is
// unavailable (retry); anything else is internal, its text for the log only.
func dbError(op string, err error) error {
	if err == nil {
		return nil
	}
	var domain *registry.Error
	if errors.As(err, &domain) {
		return err
	}
	var se *sqlite.Error
	const busy, locked = 5, 6 // SQLITE_BUSY, SQLITE_LOCKED
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.As(err, &se) && (se.Code()&0xff == busy || se.Code()&0xff == locked) {
		return fmt.Errorf("%s: %v: %w", op, err, registry.Errorf(registry.CodeUnavailable,
			"the registry database is busy right now and nothing was changed that you can rely on; retry in a moment"))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Times are stored as Unix nanoseconds, UTC.
func nanos(t time.Time) int64     { return t.UTC().UnixNano() }
func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }
func nullNanos(t *time.Time) any  { return nullIf(t != nil, func() any { return nanos(*t) }) }
func nullString(s string) any     { return nullIf(s != "", func() any { return s }) }
func nullInt(n int) any           { return nullIf(n != 0, func() any { return n }) }
func nullIf(ok bool, v func() any) any {
	if !ok {
		return nil
	}
	return v()
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}
