package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// schemaVersion is the schema this binary writes, kept in PRAGMA
// user_version. migrations[v] brings a file from version v to v+1; a file
// from a newer binary is refused rather than guessed at.
const schemaVersion = 5

var migrations = []string{0: schemaV1, 1: schemaV2Secrets, 2: schemaV3BundleGuards, 3: schemaV4Splits, 4: schemaV5StartClaims}

// schemaV5StartClaims keeps an execution's latest start claim
// (registry.ExecutionStore.ClaimStart): 1, the invocation that recorded it,
// until a replay of its Idempotency-Key claims the start again.
const schemaV5StartClaims = `
ALTER TABLE executions ADD COLUMN start_claims INTEGER NOT NULL DEFAULT 1 CHECK (start_claims >= 1);
`

// schemaV3BundleGuards adds the guard that keeps a deploy using a source
// bundle and a prune deleting it apart (registry.BundleGuard): how many
// deploys hold a lease and when the latest ends, and the live collection's
// end and token, per bundle.
const schemaV3BundleGuards = `
CREATE TABLE bundle_guards (
	project       TEXT    NOT NULL,
	digest        TEXT    NOT NULL,
	leases        INTEGER NOT NULL DEFAULT 0,
	lease_until   INTEGER NOT NULL DEFAULT 0,
	collect_until INTEGER NOT NULL DEFAULT 0,
	collect_token TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (project, digest)
) WITHOUT ROWID;
`

// schemaV4Splits lets an exclusive route split by weight (docs/splits.md).
// A split's members are route_members rows with a weight, so every query
// that asks which routes a version holds (delete guards I4, the tag cap,
// tagsOf) counts them, and the foreign key to versions keeps a member from
// being deleted. route_one_target now allows one unweighted exclusive
// member (a plain target) per route; weighted members are a split's.
// History keeps the split a change left and made (JSON objects
// "version": weight), and an execution the revision of the route it was
// resolved by.
const schemaV4Splits = `
ALTER TABLE route_members ADD COLUMN weight INTEGER CHECK (weight IS NULL OR (exclusive = 1 AND weight BETWEEN 1 AND 99));
DROP INDEX route_one_target;
CREATE UNIQUE INDEX route_one_target ON route_members (project, flow, tag) WHERE exclusive = 1 AND weight IS NULL;
ALTER TABLE history ADD COLUMN from_split TEXT CHECK (from_split IS NULL OR json_valid(from_split));
ALTER TABLE history ADD COLUMN to_split TEXT CHECK (to_split IS NULL OR json_valid(to_split));
ALTER TABLE executions ADD COLUMN route_revision INTEGER;
`

// schemaV2Secrets adds the names of the flow secrets a version declares: a
// JSON array of strings, NULL when it declares none (and for every version
// saved before).
const schemaV2Secrets = `
ALTER TABLE versions ADD COLUMN secrets TEXT CHECK (secrets IS NULL OR json_valid(secrets));
`

// schemaV1 is the first schema (docs/embedded-store.md explains each
// table). Times are Unix nanoseconds unless a column says otherwise; JSON
// documents are text. Every query is a lookup or a bounded range scan of a
// primary key or an index below.
const schemaV1 = `
CREATE TABLE flows (
	project      TEXT    NOT NULL,
	flow         TEXT    NOT NULL,
	last_version INTEGER NOT NULL CHECK (last_version >= 0), -- versions allocated (I1: never decreases)
	clock        INTEGER NOT NULL CHECK (clock >= 0),        -- route clock: orders the flow's route changes
	deployments  INTEGER NOT NULL CHECK (deployments >= 0),  -- versions that exist
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (project, flow)
) WITHOUT ROWID;

CREATE TABLE versions (
	project      TEXT    NOT NULL,
	flow         TEXT    NOT NULL,
	version      INTEGER NOT NULL CHECK (version > 0),
	snapshot     TEXT    NOT NULL,
	entrypoint   TEXT    NOT NULL,
	source       TEXT    CHECK (source IS NULL OR json_valid(source)),
	inputs       TEXT    NOT NULL CHECK (json_valid(inputs)),
	input_schema TEXT    CHECK (input_schema IS NULL OR json_valid(input_schema)),
	stack        TEXT    NOT NULL,
	description  TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	created_by   TEXT    NOT NULL,
	PRIMARY KEY (project, flow, version),
	FOREIGN KEY (project, flow) REFERENCES flows (project, flow)
) WITHOUT ROWID;

-- I1: a new version is exactly the one the flow's counter just allocated,
-- so numbers are dense and a deleted number is never taken again.
CREATE TRIGGER versions_dense BEFORE INSERT ON versions
WHEN NEW.version IS NOT (SELECT last_version FROM flows WHERE project = NEW.project AND flow = NEW.flow)
BEGIN SELECT RAISE(ABORT, 'I1: a version must be the one the flow counter allocated'); END;

-- One row per tag of a flow that was ever set: its mode, revision and the
-- route clock of its last change. A free route (no members) keeps both.
CREATE TABLE routes (
	project   TEXT    NOT NULL,
	flow      TEXT    NOT NULL,
	tag       TEXT    NOT NULL,
	exclusive INTEGER NOT NULL CHECK (exclusive IN (0, 1)),
	revision  INTEGER NOT NULL CHECK (revision >= 0),
	clock     INTEGER NOT NULL,
	PRIMARY KEY (project, flow, tag),
	UNIQUE (project, flow, tag, exclusive),
	FOREIGN KEY (project, flow) REFERENCES flows (project, flow)
) WITHOUT ROWID;

-- The versions a route sends to. The foreign keys enforce I2 (a member is
-- an existing version; a version with members cannot be deleted, I4) and
-- I5 (a member has its route's mode, so a route with members cannot change
-- mode); route_one_target makes an exclusive route hold one version.
CREATE TABLE route_members (
	project   TEXT    NOT NULL,
	flow      TEXT    NOT NULL,
	tag       TEXT    NOT NULL,
	version   INTEGER NOT NULL,
	exclusive INTEGER NOT NULL,
	PRIMARY KEY (project, flow, tag, version),
	FOREIGN KEY (project, flow, tag, exclusive) REFERENCES routes (project, flow, tag, exclusive),
	FOREIGN KEY (project, flow, version) REFERENCES versions (project, flow, version)
) WITHOUT ROWID;
CREATE UNIQUE INDEX route_one_target ON route_members (project, flow, tag) WHERE exclusive = 1;
CREATE INDEX route_members_by_version ON route_members (project, flow, version);

-- I8: every route change has its history record, written first in the same
-- transaction (the record's clock is the route's clock after the change).
CREATE TABLE history (
	project      TEXT    NOT NULL,
	flow         TEXT    NOT NULL,
	tag          TEXT    NOT NULL,
	clock        INTEGER NOT NULL,
	action       TEXT    NOT NULL,
	exclusive    INTEGER NOT NULL,
	from_version INTEGER,
	to_version   INTEGER,
	changed_by   TEXT    NOT NULL,
	changed_at   INTEGER NOT NULL,
	PRIMARY KEY (project, flow, tag, clock)
) WITHOUT ROWID;
CREATE TRIGGER routes_insert_history AFTER INSERT ON routes
WHEN NOT EXISTS (SELECT 1 FROM history WHERE project = NEW.project AND flow = NEW.flow AND tag = NEW.tag AND clock = NEW.clock)
BEGIN SELECT RAISE(ABORT, 'I8: a route change needs its history record'); END;
CREATE TRIGGER routes_update_history AFTER UPDATE ON routes
WHEN NOT EXISTS (SELECT 1 FROM history WHERE project = NEW.project AND flow = NEW.flow AND tag = NEW.tag AND clock = NEW.clock)
BEGIN SELECT RAISE(ABORT, 'I8: a route change needs its history record'); END;

CREATE TABLE executions (
	project          TEXT    NOT NULL,
	exec_id          TEXT    NOT NULL,
	flow             TEXT    NOT NULL,
	version          INTEGER NOT NULL,
	snapshot         TEXT    NOT NULL,
	selector_tag     TEXT,
	selector_version INTEGER,
	status           TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
	inputs           TEXT    NOT NULL CHECK (json_valid(inputs)),
	result           TEXT    CHECK (result IS NULL OR json_valid(result)),
	result_ref       TEXT,
	error            TEXT    CHECK (error IS NULL OR json_valid(error)),
	started_at       INTEGER NOT NULL,
	ended_at         INTEGER,
	invoked_by       TEXT,
	idempotency_key  TEXT,
	PRIMARY KEY (project, exec_id)
) WITHOUT ROWID;
CREATE INDEX executions_by_flow ON executions (project, flow, exec_id);
-- The reaper's running index: only running executions, oldest first.
CREATE INDEX executions_running ON executions (started_at, project, exec_id) WHERE status = 'running';

-- Idempotency-Key of an invocation → the execution it started, until expires_at (Unix seconds).
CREATE TABLE execution_keys (
	project     TEXT    NOT NULL,
	flow        TEXT    NOT NULL,
	key_hash    TEXT    NOT NULL,
	exec_id     TEXT    NOT NULL,
	fingerprint TEXT    NOT NULL,
	expires_at  INTEGER NOT NULL,
	PRIMARY KEY (project, flow, key_hash)
) WITHOUT ROWID;

-- Idempotency-Key of any keyed write: a claim (lease_until, Unix ms) or the answer.
CREATE TABLE idempotency (
	project      TEXT    NOT NULL,
	key_hash     TEXT    NOT NULL, -- sha256(principal NUL key)
	completed    INTEGER NOT NULL CHECK (completed IN (0, 1)),
	fingerprint  TEXT    NOT NULL,
	token        TEXT    NOT NULL,
	lease_until  INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	status       INTEGER NOT NULL DEFAULT 0,
	body         TEXT    NOT NULL DEFAULT '',
	body_gzip    BLOB,
	body_dropped INTEGER NOT NULL DEFAULT 0,
	headers      TEXT    CHECK (headers IS NULL OR json_valid(headers)),
	PRIMARY KEY (project, key_hash)
) WITHOUT ROWID;

CREATE TABLE api_keys (
	key_id       TEXT    NOT NULL PRIMARY KEY,
	hash         BLOB    NOT NULL,
	projects     TEXT    NOT NULL CHECK (json_valid(projects)),
	role         TEXT    NOT NULL,
	description  TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
) WITHOUT ROWID;
CREATE INDEX api_keys_by_creation ON api_keys (created_at, key_id);
`

// migrate brings the database to schemaVersion, one transaction per step.
func (s *Store) migrate(ctx context.Context) error {
	var v int
	if err := s.writer.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("open the registry %s: %w", s.path, err)
	}
	if v > schemaVersion {
		return fmt.Errorf("the registry %s has schema version %d, newer than this kitaru reads (%d): upgrade kitaru, or use another data directory (--data)", s.path, v, schemaVersion)
	}
	if s.path != Memory {
		// After the version check, so that a refused file stays as it was:
		// WAL lets reads run beside the writer (and persists in the file).
		if _, err := s.writer.ExecContext(ctx, "PRAGMA journal_mode = WAL"); err != nil {
			return fmt.Errorf("open the registry %s: %w", s.path, err)
		}
	}
	for ; v < schemaVersion; v++ {
		err := s.write(ctx, fmt.Sprintf("migrate the registry to schema version %d", v+1), func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
