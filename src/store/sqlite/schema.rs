//! The store's schema and its upgrades, applied in one transaction.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::StoreError;

/// 1: feeds, stories, keys, sightings. 2: the archive of published
/// messages and replay positions (added by `CREATE TABLE IF NOT EXISTS`).
/// 3: `feeds.moved_url`, where a feed moved permanently (added by ALTER).
/// 4: the feed's pace, `<ttl>` and skip schedule, for the scheduler (ALTER).
/// 5: item versions, page attempts and extraction status of stories, the
/// guid and link fragment of each sighting, each feed's settings (the feed
/// list lives in the store), leases on feeds and stories (ALTER), the
/// workers table; non-URL guid keys scoped by feed; published items' JSON
/// dropped. 6: the text of each sighting (`sightings.body`, ALTER), and the
/// near-duplicate prints of stories with their LSH bands (new tables).
/// 7: WebSub subscriptions (new table).
pub(super) const SCHEMA_VERSION: i64 = 7;

/// Columns added after version 1: (version, table, column, definition).
const ADDED_COLUMNS: &[(i64, &str, &str, &str)] = &[
    (3, "feeds", "moved_url", "TEXT"),
    (4, "feeds", "pace_gap_ms", "INTEGER"),
    (4, "feeds", "newest_item_ms", "INTEGER"),
    (4, "feeds", "ttl_ms", "INTEGER"),
    (4, "feeds", "skip_hours", "INTEGER NOT NULL DEFAULT 0"),
    (4, "feeds", "skip_days", "INTEGER NOT NULL DEFAULT 0"),
    (5, "stories", "item_version", "INTEGER NOT NULL DEFAULT 0"),
    (5, "stories", "pending_item_version", "INTEGER"),
    (5, "stories", "pending_status", "TEXT"),
    (5, "stories", "status", "TEXT"),
    (5, "stories", "attempts", "INTEGER NOT NULL DEFAULT 0"),
    (5, "sightings", "guid", "TEXT"),
    (5, "sightings", "fragment", "TEXT"),
    (5, "feeds", "spec", "TEXT"),
    (5, "feeds", "origin", "TEXT"),
    (5, "feeds", "lease_owner", "TEXT"),
    (5, "feeds", "lease_until", "INTEGER"),
    (5, "stories", "lease_owner", "TEXT"),
    (5, "stories", "lease_until", "INTEGER"),
    (6, "sightings", "body", "TEXT"),
];

/// Version 5's data changes: guids that are not URLs were global keys and
/// are now scoped by the feeds that carried them; a published story's item
/// JSON is not needed any more.
const SCOPE_GUID_KEYS: &str = "
INSERT OR IGNORE INTO story_keys (key, story_id)
    SELECT 'guid@' || s.feed_id || ':' || substr(k.key, 6), k.story_id
    FROM story_keys k JOIN sightings s ON s.story_id = k.story_id
    WHERE substr(k.key, 1, 5) = 'guid:';
DELETE FROM story_keys WHERE substr(key, 1, 5) = 'guid:';
UPDATE stories SET item = '' WHERE state = 'published';
";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS feeds (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    title TEXT,
    etag TEXT,
    last_modified TEXT,
    next_due_ms INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_polled_ms INTEGER,
    last_status TEXT,
    last_error TEXT,
    moved_url TEXT,
    pace_gap_ms INTEGER,
    newest_item_ms INTEGER,
    ttl_ms INTEGER,
    skip_hours INTEGER NOT NULL DEFAULT 0,
    skip_days INTEGER NOT NULL DEFAULT 0,
    spec TEXT,
    origin TEXT,
    lease_owner TEXT,
    lease_until INTEGER
);
CREATE INDEX IF NOT EXISTS feeds_due ON feeds (next_due_ms) WHERE spec IS NOT NULL;
CREATE TABLE IF NOT EXISTS stories (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('discovered', 'fetched', 'published')),
    feed_id TEXT NOT NULL,
    url TEXT,
    item TEXT NOT NULL,
    revision INTEGER NOT NULL DEFAULT 0,
    content_hash TEXT,
    pending_revision INTEGER,
    pending_hash TEXT,
    pending_event TEXT,
    pending_routing_key TEXT,
    pending_timestamp INTEGER,
    pending_body BLOB,
    first_seen_ms INTEGER NOT NULL,
    changed_ms INTEGER NOT NULL,
    published_ms INTEGER,
    item_version INTEGER NOT NULL DEFAULT 0,
    pending_item_version INTEGER,
    pending_status TEXT,
    status TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until INTEGER
);
CREATE INDEX IF NOT EXISTS stories_unfinished ON stories (changed_ms) WHERE state != 'published';
-- story_id '' marks a key that names several stories: never matched.
CREATE TABLE IF NOT EXISTS story_keys (
    key TEXT PRIMARY KEY,
    story_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archive (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    feed_id TEXT NOT NULL,
    event TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    published_ms INTEGER NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (story_id, revision)
);
CREATE INDEX IF NOT EXISTS archive_published ON archive (published_ms);
CREATE TABLE IF NOT EXISTS replay_progress (
    name TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_ms INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sightings (
    feed_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    guid TEXT,
    fragment TEXT,
    body TEXT,
    PRIMARY KEY (feed_id, story_id)
) WITHOUT ROWID;
-- A story's near-duplicate print (dedup::near): id orders stories by when
-- they were first printed; cluster NULL means the story's own id.
CREATE TABLE IF NOT EXISTS subscriptions (
    feed_id TEXT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    hub TEXT NOT NULL,
    topic TEXT NOT NULL,
    secret TEXT NOT NULL,
    state TEXT NOT NULL,
    lease_until_ms INTEGER,
    reason TEXT,
    asked_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS near_prints (
    id INTEGER PRIMARY KEY,
    story_id TEXT NOT NULL UNIQUE,
    printed_ms INTEGER NOT NULL,
    print BLOB NOT NULL,
    cluster TEXT
);
-- Expiry walks near_prints in id order, which is printing order: an index
-- on printed_ms (which earlier stores have) only cost a write per story.
DROP INDEX IF EXISTS near_prints_printed;
-- The LSH bands of the prints are held in memory (sqlite/bands.rs); the
-- table earlier stores kept them in cost a dozen page writes per story.
DROP TABLE IF EXISTS near_bands;
"#;

/// Whether `table` has `column`; `None` when there is no such table.
pub(super) fn has_column(
    conn: &Connection,
    table: &str,
    column: &str,
) -> rusqlite::Result<Option<bool>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!names.is_empty()).then(|| names.iter().any(|n| n == column)))
}

/// Checks that `conn` holds a feedwire store (or nothing) and brings its
/// schema up to date.
pub(super) fn init(conn: &mut Connection, display: &str) -> Result<(), StoreError> {
    let corrupt = |e: rusqlite::Error| StoreError::Corrupt {
        path: display.to_string(),
        reason: e.to_string(),
    };
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(corrupt)?;
    // Reading the header is what fails on a file that is not SQLite.
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(corrupt)?;
    if check != "ok" {
        return Err(StoreError::Corrupt {
            path: display.to_string(),
            reason: check,
        });
    }
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(corrupt)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(corrupt)?;
    // One transaction for the whole upgrade: a crash half-way leaves
    // the old version intact, and two workers starting at once take
    // turns (IMMEDIATE takes the write lock before reading the version).
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(corrupt)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(corrupt)?;
    let has_tables: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .map_err(corrupt)?;
    // Older versions are upgraded below; version 0 with tables is some
    // other program's database.
    if (has_tables && version == 0) || version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt {
            path: display.to_string(),
            reason: format!(
                "schema version {version}, this feedwire knows 1 to {SCHEMA_VERSION} (is it another program's database, or a newer feedwire's?)"
            ),
        });
    }
    if has_tables && version < SCHEMA_VERSION {
        for (added_in, table, column, definition) in ADDED_COLUMNS {
            // Checked, not assumed from the version: a column may be
            // there already (an upgrade interrupted by an older release).
            if version < *added_in
                && has_column(&tx, table, column).map_err(corrupt)? == Some(false)
            {
                tx.execute_batch(&format!(
                    "ALTER TABLE {table} ADD COLUMN {column} {definition}"
                ))
                .map_err(corrupt)?;
            }
        }
    }
    tx.execute_batch(SCHEMA).map_err(corrupt)?;
    if has_tables && version < 5 {
        tx.execute_batch(SCOPE_GUID_KEYS).map_err(corrupt)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(corrupt)?;
    tx.commit().map_err(corrupt)?;
    Ok(())
}
