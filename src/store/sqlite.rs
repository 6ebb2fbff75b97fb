//! The embedded store: one SQLite file in WAL mode.
//!
//! WAL with `synchronous = NORMAL` keeps every committed transaction across a
//! process crash (a power loss may lose the last few, which the at-least-once
//! design re-sends). A file that is not a feedwire store, or is corrupt, is a
//! clear error at start-up, never a silent reset.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    ArchivedMessage, DiscoveredItem, FeedState, PendingMessage, Store, StoreError, StoreStats,
    StoryRecord, StoryState, StoryTask, StoryWork, event_name, event_of,
};
use crate::dedup::{StoryIdentity, story_id_for_key};
use crate::message::{Envelope, ExtractionStatus, message_id};
use crate::schedule::{Pace, SkipSchedule};

/// 1: feeds, stories, keys, sightings. 2: the archive of published
/// messages and replay positions (added by `CREATE TABLE IF NOT EXISTS`).
/// 3: `feeds.moved_url`, where a feed moved permanently (added by ALTER).
/// 4: the feed's pace, `<ttl>` and skip schedule, for the scheduler (ALTER).
/// 5: item versions, page attempts and extraction status of stories, the
/// guid and link fragment of each sighting (ALTER); non-URL guid keys scoped by feed;
/// published items' JSON dropped.
const SCHEMA_VERSION: i64 = 5;

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
    skip_days INTEGER NOT NULL DEFAULT 0
);
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
    attempts INTEGER NOT NULL DEFAULT 0
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
CREATE TABLE IF NOT EXISTS sightings (
    feed_id TEXT NOT NULL,
    story_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    guid TEXT,
    fragment TEXT,
    PRIMARY KEY (feed_id, story_id)
) WITHOUT ROWID;
"#;

pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SqliteStore {
    /// Opens (creating if missing) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let display = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Corrupt {
                path: display.clone(),
                reason: format!("cannot create directory {}: {e}", parent.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: display.clone(),
            source,
        })?;
        Self::init(conn, &display)
    }

    /// A store that lives in memory only (tests, `--dry-run` style tools).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        Self::init(conn, ":memory:")
    }

    fn init(conn: Connection, display: &str) -> Result<SqliteStore, StoreError> {
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
        let mut conn = conn;
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
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (the
        // transaction rolls back), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Whether `table` has `column`; `None` when there is no such table.
fn has_column(conn: &Connection, table: &str, column: &str) -> rusqlite::Result<Option<bool>> {
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(1))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!names.is_empty()).then(|| names.iter().any(|n| n == column)))
}

/// What the store makes of an identity: the story one of its keys names
/// (and that key), or the id a new story of this identity gets.
struct Found {
    story: Option<(String, String)>,
    new_id: String,
}

/// Looks `identity` up. Keys the store knows to be ambiguous are skipped,
/// for matching and for the new id: an item whose link is shared by a
/// status page's incidents must get an id of its own, not its link's.
fn find_story(conn: &Connection, identity: &StoryIdentity) -> rusqlite::Result<Found> {
    let mut stmt = conn.prepare_cached("SELECT story_id FROM story_keys WHERE key = ?1")?;
    let mut first_usable = None;
    for key in identity.all_keys() {
        match stmt
            .query_row([key], |r| r.get::<_, String>(0))
            .optional()?
        {
            Some(id) if id.is_empty() => continue,
            Some(id) => {
                return Ok(Found {
                    new_id: id.clone(),
                    story: Some((id, key.to_string())),
                });
            }
            None => {
                first_usable.get_or_insert(key);
            }
        }
    }
    let new_id = match first_usable {
        Some(key) => story_id_for_key(key),
        // Every key is ambiguous: all of them together name this item.
        None => story_id_for_key(&format!(
            "ambiguous:{}",
            identity.all_keys().collect::<Vec<_>>().join("\n")
        )),
    };
    Ok(Found {
        story: None,
        new_id,
    })
}

/// Marks `key` as naming several stories: it is never matched again.
fn mark_ambiguous(conn: &Connection, key: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO story_keys (key, story_id) VALUES (?1, '')
         ON CONFLICT (key) DO UPDATE SET story_id = ''",
        [key],
    )?;
    Ok(())
}

/// Columns [`task_of`] reads, in order.
const TASK_COLUMNS: &str = "id, feed_id, item, url, item_version, revision, content_hash, status";

fn task_of(row: &rusqlite::Row<'_>) -> Result<StoryTask, StoreError> {
    let item: String = row.get(2)?;
    let status: Option<String> = row.get(7)?;
    Ok(StoryTask {
        story_id: row.get(0)?,
        feed_id: row.get(1)?,
        item: serde_json::from_str(&item)?,
        url: row.get(3)?,
        item_version: row.get(4)?,
        published_revision: row.get(5)?,
        published_hash: row.get(6)?,
        published_status: status.as_deref().and_then(ExtractionStatus::parse),
    })
}

/// Runs an UPDATE … RETURNING [`TASK_COLUMNS`] and its state: the task
/// when the update left the story open (`discovered`).
fn reopened(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Option<StoryTask>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    match rows.next()? {
        Some(row) if row.get::<_, String>(8)? == "discovered" => Ok(Some(task_of(row)?)),
        _ => Ok(None),
    }
}

fn record_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoryRecord> {
    let state: String = row.get(1)?;
    Ok(StoryRecord {
        story_id: row.get(0)?,
        state: StoryState::parse(&state).unwrap_or(StoryState::Discovered),
        feed_id: row.get(2)?,
        url: row.get(3)?,
        revision: row.get(4)?,
        content_hash: row.get(5)?,
    })
}

const FEED_COLUMNS: &str = "id, url, title, etag, last_modified, next_due_ms, consecutive_failures, last_polled_ms, last_status, last_error, moved_url, pace_gap_ms, newest_item_ms, ttl_ms, skip_hours, skip_days";

fn feed_state_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<FeedState> {
    Ok(FeedState {
        feed_id: r.get(0)?,
        url: r.get(1)?,
        title: r.get(2)?,
        etag: r.get(3)?,
        last_modified: r.get(4)?,
        next_due_ms: r.get(5)?,
        consecutive_failures: r.get(6)?,
        last_polled_ms: r.get(7)?,
        last_status: r.get(8)?,
        last_error: r.get(9)?,
        moved_url: r.get(10)?,
        pace: Pace {
            median_gap_ms: r.get(11)?,
            newest_item_ms: r.get(12)?,
        },
        ttl_ms: r.get(13)?,
        skip: SkipSchedule {
            hours: r.get(14)?,
            days: r.get(15)?,
        },
    })
}

const RECORD_COLUMNS: &str = "id, state, feed_id, url, revision, content_hash";

impl Store for SqliteStore {
    fn feed_state(&self, feed_id: &str) -> Result<Option<FeedState>, StoreError> {
        let state = self
            .conn()
            .query_row(
                &format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?1"),
                [feed_id],
                feed_state_of,
            )
            .optional()?;
        Ok(state)
    }

    fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY id"))?;
        let states = stmt
            .query_map([], feed_state_of)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(states)
    }

    fn stories_per_feed(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT feed_id, count(*) FROM stories GROUP BY feed_id ORDER BY feed_id")?;
        let counts = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(counts)
    }

    fn save_feed_state(&self, s: &FeedState) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO feeds (id, url, title, etag, last_modified, next_due_ms,
                                consecutive_failures, last_polled_ms, last_status, last_error, moved_url,
                                pace_gap_ms, newest_item_ms, ttl_ms, skip_hours, skip_days)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
             ON CONFLICT (id) DO UPDATE SET url = excluded.url, title = excluded.title,
                etag = excluded.etag, last_modified = excluded.last_modified,
                next_due_ms = excluded.next_due_ms,
                consecutive_failures = excluded.consecutive_failures,
                last_polled_ms = excluded.last_polled_ms, last_status = excluded.last_status,
                last_error = excluded.last_error, moved_url = excluded.moved_url,
                pace_gap_ms = excluded.pace_gap_ms, newest_item_ms = excluded.newest_item_ms,
                ttl_ms = excluded.ttl_ms, skip_hours = excluded.skip_hours,
                skip_days = excluded.skip_days",
            params![
                s.feed_id,
                s.url,
                s.title,
                s.etag,
                s.last_modified,
                s.next_due_ms,
                s.consecutive_failures,
                s.last_polled_ms,
                s.last_status,
                s.last_error,
                s.moved_url,
                s.pace.median_gap_ms,
                s.pace.newest_item_ms,
                s.ttl_ms,
                s.skip.hours,
                s.skip.days
            ],
        )?;
        Ok(())
    }

    fn record_items(
        &self,
        feed_id: &str,
        items: &[DiscoveredItem],
        ambiguous: &[String],
    ) -> Result<Vec<StoryTask>, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE: the transaction reads before it writes, and a deferred
        // one would fail at once (SQLITE_BUSY) if another process (a
        // backfill) wrote in between; this one waits for the lock instead.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = now_ms();
        for key in ambiguous {
            mark_ambiguous(&tx, key)?;
        }
        let mut work = Vec::new();
        let mut recorded: HashSet<String> = HashSet::new();
        for discovered in items {
            let identity = &discovered.identity;
            let mut found = find_story(&tx, identity)?;
            let mut previous: Option<String> = None;
            // A story this feed showed before under another guid or link
            // fragment, with other text, is another story that happens to
            // share a key (a status page or live blog seen one entry at a
            // time): that key names several.
            while let Some((story_id, key)) = &found.story {
                let seen: Option<(String, Option<String>, Option<String>)> = tx
                    .query_row(
                        "SELECT fingerprint, guid, fragment FROM sightings WHERE feed_id = ?1 AND story_id = ?2",
                        params![feed_id, story_id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()?;
                let other = seen.as_ref().is_some_and(|(fingerprint, guid, fragment)| {
                    *fingerprint != discovered.fingerprint
                        && identity.told_apart_from(guid.as_deref(), fragment.as_deref())
                });
                if !other {
                    previous = seen.map(|(fingerprint, ..)| fingerprint);
                    break;
                }
                mark_ambiguous(&tx, key)?;
                found = find_story(&tx, identity)?;
            }
            let story_id = found.new_id;
            let is_new = found.story.is_none();
            // Two items of one document that turn out to be one story: the
            // first one counts, so the story's fingerprint does not flip
            // between them on every poll.
            if !recorded.insert(story_id.clone()) {
                continue;
            }
            for key in identity.all_keys() {
                tx.execute(
                    "INSERT OR IGNORE INTO story_keys (key, story_id) VALUES (?1, ?2)",
                    params![key, story_id],
                )?;
            }
            if is_new {
                previous = tx
                    .query_row(
                        "SELECT fingerprint FROM sightings WHERE feed_id = ?1 AND story_id = ?2",
                        params![feed_id, story_id],
                        |r| r.get(0),
                    )
                    .optional()?;
            }
            if previous.as_deref() == Some(discovered.fingerprint.as_str()) {
                continue;
            }
            tx.execute(
                "INSERT OR REPLACE INTO sightings (feed_id, story_id, fingerprint, guid, fragment)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    feed_id,
                    story_id,
                    discovered.fingerprint,
                    identity.guid,
                    identity.fragment
                ],
            )?;
            let item_json = serde_json::to_string(&discovered.item)?;
            if is_new {
                let inserted = tx.execute(
                    "INSERT OR IGNORE INTO stories (id, state, feed_id, url, item, first_seen_ms, changed_ms)
                     VALUES (?1, 'discovered', ?2, ?3, ?4, ?5, ?5)",
                    params![story_id, feed_id, identity.url, item_json, now],
                )?;
                if inserted == 1 {
                    work.push(StoryTask {
                        story_id,
                        feed_id: feed_id.to_string(),
                        item: discovered.item.clone(),
                        url: identity.url.clone(),
                        item_version: 0,
                        published_revision: 0,
                        published_hash: None,
                        published_status: None,
                    });
                    continue;
                }
            }
            if previous.is_none() {
                // The same story seen in another feed: not news.
                continue;
            }
            // This feed's item changed. A finished story opens again; one in
            // progress keeps the new item, and opens again once the message
            // being delivered (built from the old one) is confirmed.
            let task = reopened(
                &tx,
                &format!(
                    "UPDATE stories SET feed_id = ?2, item = ?3, changed_ms = ?4,
                        item_version = item_version + 1,
                        state = CASE state WHEN 'published' THEN 'discovered' ELSE state END
                     WHERE id = ?1
                     RETURNING {TASK_COLUMNS}, state"
                ),
                params![story_id, feed_id, item_json, now],
            )?;
            work.extend(task);
        }
        tx.commit()?;
        Ok(work)
    }

    fn lookup(&self, identity: &StoryIdentity) -> Result<Option<StoryRecord>, StoreError> {
        let conn = self.conn();
        let Some((story_id, _)) = find_story(&conn, identity)?.story else {
            return Ok(None);
        };
        let record = conn
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM stories WHERE id = ?1"),
                [story_id],
                record_of,
            )
            .optional()?;
        Ok(record)
    }

    fn save_pending(&self, pending: &PendingMessage) -> Result<(), StoreError> {
        let envelope = &pending.envelope;
        self.conn().execute(
            "UPDATE stories SET state = 'fetched', pending_revision = ?2, pending_hash = ?3,
                pending_event = ?4, pending_routing_key = ?5, pending_timestamp = ?6,
                pending_body = ?7, changed_ms = ?8, pending_status = ?9,
                pending_item_version = ?10
             WHERE id = ?1",
            params![
                envelope.story_id,
                envelope.revision,
                pending.content_hash,
                event_name(envelope.event),
                envelope.routing_key,
                envelope.timestamp,
                envelope.body,
                now_ms(),
                pending.status.as_str(),
                pending.item_version,
            ],
        )?;
        Ok(())
    }

    fn mark_published(
        &self,
        story_id: &str,
        revision: u32,
    ) -> Result<Option<StoryTask>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        // The archive keeps every published revision for replay.
        tx.execute(
            "INSERT OR IGNORE INTO archive (story_id, revision, feed_id, event, routing_key, timestamp, published_ms, body)
             SELECT id, pending_revision, feed_id, pending_event, pending_routing_key, pending_timestamp, ?3, pending_body
             FROM stories WHERE id = ?1 AND pending_revision = ?2",
            params![story_id, revision, now],
        )?;
        // A story whose item changed while this message was on its way
        // stays open; a finished one drops its item JSON (not needed again).
        let task = reopened(
            &tx,
            &format!(
                "UPDATE stories SET
                    state = CASE WHEN item_version > pending_item_version THEN 'discovered' ELSE 'published' END,
                    item = CASE WHEN item_version > pending_item_version THEN item ELSE '' END,
                    revision = pending_revision, content_hash = pending_hash, status = pending_status,
                    pending_revision = NULL, pending_hash = NULL, pending_event = NULL,
                    pending_routing_key = NULL, pending_timestamp = NULL, pending_body = NULL,
                    pending_status = NULL, pending_item_version = NULL, attempts = 0,
                    published_ms = ?3, changed_ms = ?3
                 WHERE id = ?1 AND pending_revision = ?2
                 RETURNING {TASK_COLUMNS}, state"
            ),
            params![story_id, revision, now],
        )?;
        tx.commit()?;
        Ok(task)
    }

    fn mark_unchanged(
        &self,
        story_id: &str,
        item_version: u32,
    ) -> Result<Option<StoryTask>, StoreError> {
        reopened(
            &self.conn(),
            &format!(
                "UPDATE stories SET
                    state = CASE WHEN item_version > ?2 THEN 'discovered' ELSE 'published' END,
                    item = CASE WHEN item_version > ?2 THEN item ELSE '' END,
                    attempts = 0, changed_ms = ?3
                 WHERE id = ?1 AND state = 'discovered' AND revision > 0
                 RETURNING {TASK_COLUMNS}, state"
            ),
            params![story_id, item_version, now_ms()],
        )
    }

    fn begin_attempt(&self, story_id: &str) -> Result<u32, StoreError> {
        let attempts = self
            .conn()
            .query_row(
                "UPDATE stories SET attempts = attempts + 1 WHERE id = ?1 RETURNING attempts",
                [story_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(attempts.unwrap_or(1))
    }

    fn defer(&self, story_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE stories SET changed_ms = ?2 WHERE id = ?1 AND state = 'discovered'",
            params![story_id, now_ms()],
        )?;
        Ok(())
    }

    fn unfinished(&self, changed_before_ms: i64) -> Result<Vec<StoryWork>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TASK_COLUMNS}, state, pending_revision, pending_event,
                    pending_routing_key, pending_timestamp, pending_body
             FROM stories WHERE state != 'published' AND changed_ms <= ?1 ORDER BY changed_ms, id"
        ))?;
        let mut rows = stmt.query([changed_before_ms])?;
        let mut work = Vec::new();
        while let Some(row) = rows.next()? {
            let state: String = row.get(8)?;
            if state == "fetched" {
                let story_id: String = row.get(0)?;
                let revision: u32 = row.get(9)?;
                let event: String = row.get(10)?;
                work.push(StoryWork::Republish(Envelope {
                    message_id: message_id(&story_id, revision),
                    story_id,
                    revision,
                    event: event_of(&event),
                    routing_key: row.get(11)?,
                    timestamp: row.get(12)?,
                    body: row.get(13)?,
                }));
            } else {
                work.push(StoryWork::Process(Box::new(task_of(row)?)));
            }
        }
        Ok(work)
    }

    fn story(&self, story_id: &str) -> Result<Option<StoryRecord>, StoreError> {
        let record = self
            .conn()
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM stories WHERE id = ?1"),
                [story_id],
                record_of,
            )
            .optional()?;
        Ok(record)
    }

    fn stats(&self) -> Result<StoreStats, StoreError> {
        let conn = self.conn();
        let feeds: u64 = conn.query_row("SELECT count(*) FROM feeds", [], |r| r.get(0))?;
        let mut stats = StoreStats {
            feeds,
            ..StoreStats::default()
        };
        let (messages, bytes, oldest, newest): (u64, u64, Option<i64>, Option<i64>) = conn.query_row(
            "SELECT count(*), coalesce(sum(length(body)), 0), min(published_ms), max(published_ms) FROM archive",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        stats.archived_messages = messages;
        stats.archive_bytes = bytes;
        stats.archive_oldest_ms = oldest;
        stats.archive_newest_ms = newest;
        let mut stmt = conn.prepare("SELECT state, count(*) FROM stories GROUP BY state")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let state: String = row.get(0)?;
            let count: u64 = row.get(1)?;
            stats.stories += count;
            match StoryState::parse(&state) {
                Some(StoryState::Discovered) => stats.discovered = count,
                Some(StoryState::Fetched) => stats.fetched = count,
                Some(StoryState::Published) => stats.published = count,
                None => {}
            }
        }
        Ok(stats)
    }

    fn archived(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, story_id, revision, feed_id, event, routing_key, timestamp, published_ms, body
             FROM archive WHERE seq > ?1 AND published_ms >= ?2 AND published_ms <= ?3
             ORDER BY seq LIMIT ?4",
        )?;
        let rows = stmt.query_map(
            params![
                after_seq,
                since_ms.unwrap_or(i64::MIN),
                until_ms.unwrap_or(i64::MAX),
                limit as i64
            ],
            |r| {
                let story_id: String = r.get(1)?;
                let revision: u32 = r.get(2)?;
                let event: String = r.get(4)?;
                Ok(ArchivedMessage {
                    seq: r.get(0)?,
                    feed_id: r.get(3)?,
                    published_ms: r.get(7)?,
                    envelope: Envelope {
                        message_id: message_id(&story_id, revision),
                        story_id,
                        revision,
                        event: event_of(&event),
                        routing_key: r.get(5)?,
                        timestamp: r.get(6)?,
                        body: r.get(8)?,
                    },
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn replay_position(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let seq = self
            .conn()
            .query_row(
                "SELECT last_seq FROM replay_progress WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(seq)
    }

    fn save_replay_position(&self, name: &str, seq: Option<i64>) -> Result<(), StoreError> {
        let conn = self.conn();
        match seq {
            Some(seq) => conn.execute(
                "INSERT INTO replay_progress (name, last_seq, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq, updated_ms = excluded.updated_ms",
                params![name, seq, now_ms()],
            )?,
            None => conn.execute("DELETE FROM replay_progress WHERE name = ?1", [name])?,
        };
        Ok(())
    }

    fn prune_archive(
        &self,
        older_than_ms: Option<i64>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError> {
        let conn = self.conn();
        let mut deleted = 0u64;
        if let Some(cutoff) = older_than_ms {
            deleted +=
                conn.execute("DELETE FROM archive WHERE published_ms < ?1", [cutoff])? as u64;
        }
        if let Some(max) = max_bytes {
            let total: i64 = conn.query_row(
                "SELECT coalesce(sum(length(body)), 0) FROM archive",
                [],
                |r| r.get(0),
            )?;
            let mut excess = total - max as i64;
            if excess > 0 {
                // Oldest first, until the archive fits.
                let mut stmt =
                    conn.prepare("SELECT seq, length(body) FROM archive ORDER BY seq")?;
                let mut rows = stmt.query([])?;
                let mut last = None;
                while excess > 0 {
                    let Some(row) = rows.next()? else { break };
                    last = Some(row.get::<_, i64>(0)?);
                    excess -= row.get::<_, i64>(1)?;
                }
                drop(rows);
                if let Some(last) = last {
                    deleted += conn.execute("DELETE FROM archive WHERE seq <= ?1", [last])? as u64;
                }
            }
        }
        Ok(deleted)
    }

    fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::FeedItem;
    use crate::store::tests::{pending, record};

    #[test]
    fn a_version_2_store_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE feeds (id TEXT PRIMARY KEY, url TEXT NOT NULL, title TEXT, etag TEXT,
                    last_modified TEXT, next_due_ms INTEGER NOT NULL DEFAULT 0,
                    consecutive_failures INTEGER NOT NULL DEFAULT 0, last_polled_ms INTEGER,
                    last_status TEXT, last_error TEXT);
                 INSERT INTO feeds (id, url) VALUES ('f', 'https://x.example/feed');
                 PRAGMA user_version = 2;",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let state = store.feed_state("f").unwrap().unwrap();
        assert_eq!(state.moved_url, None);
        store
            .save_feed_state(&FeedState {
                moved_url: Some("https://y.example/feed".into()),
                pace: Pace {
                    median_gap_ms: Some(600_000),
                    newest_item_ms: Some(1_780_000_000_000),
                },
                ttl_ms: Some(900_000),
                skip: SkipSchedule {
                    hours: 1 << 23,
                    days: 1 << 6,
                },
                ..state
            })
            .unwrap();
        let upgraded = store.feed_state("f").unwrap().unwrap();
        assert_eq!(
            upgraded.moved_url.as_deref(),
            Some("https://y.example/feed")
        );
        assert_eq!(upgraded.pace.median_gap_ms, Some(600_000));
        assert_eq!(upgraded.ttl_ms, Some(900_000));
        assert_eq!(upgraded.skip.hours, 1 << 23);
        assert_eq!(upgraded.skip.days, 1 << 6);
    }

    /// A version-4 store as the previous release left it: one story found
    /// by a bare guid `1`, published.
    fn version_4_store(path: &Path, extra: &str) {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch(
            "CREATE TABLE feeds (id TEXT PRIMARY KEY, url TEXT NOT NULL, title TEXT, etag TEXT,
                last_modified TEXT, next_due_ms INTEGER NOT NULL DEFAULT 0,
                consecutive_failures INTEGER NOT NULL DEFAULT 0, last_polled_ms INTEGER,
                last_status TEXT, last_error TEXT, moved_url TEXT, pace_gap_ms INTEGER,
                newest_item_ms INTEGER, ttl_ms INTEGER, skip_hours INTEGER NOT NULL DEFAULT 0,
                skip_days INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE stories (id TEXT PRIMARY KEY, state TEXT NOT NULL, feed_id TEXT NOT NULL,
                url TEXT, item TEXT NOT NULL, revision INTEGER NOT NULL DEFAULT 0, content_hash TEXT,
                pending_revision INTEGER, pending_hash TEXT, pending_event TEXT,
                pending_routing_key TEXT, pending_timestamp INTEGER, pending_body BLOB,
                first_seen_ms INTEGER NOT NULL, changed_ms INTEGER NOT NULL, published_ms INTEGER);
             CREATE TABLE story_keys (key TEXT PRIMARY KEY, story_id TEXT NOT NULL);
             CREATE TABLE sightings (feed_id TEXT NOT NULL, story_id TEXT NOT NULL,
                fingerprint TEXT NOT NULL, PRIMARY KEY (feed_id, story_id)) WITHOUT ROWID;
             INSERT INTO stories (id, state, feed_id, item, revision, first_seen_ms, changed_ms)
                VALUES ('s1', 'published', 'site-a', '{\"guid\":\"1\"}', 1, 0, 0);
             INSERT INTO story_keys VALUES ('guid:1', 's1');
             INSERT INTO sightings VALUES ('site-a', 's1', 'fp');
             PRAGMA user_version = 4;",
        )
        .unwrap();
        conn.execute_batch(extra).unwrap();
    }

    #[test]
    fn version_5_scopes_bare_guids_by_feed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        version_4_store(&path, "");
        let store = SqliteStore::open(&path).unwrap();
        let one = FeedItem {
            guid: Some("1".into()),
            ..FeedItem::default()
        };
        let bare = |feed: &str| StoryIdentity::of(feed, &one);
        // The story keeps its id for its own feed; the same guid elsewhere
        // is another story.
        assert_eq!(
            store.lookup(&bare("site-a")).unwrap().map(|r| r.story_id),
            Some("s1".to_string())
        );
        assert!(store.lookup(&bare("site-b")).unwrap().is_none());
        assert_eq!(
            record(&store, "site-b", std::slice::from_ref(&one)).len(),
            1
        );
    }

    #[test]
    fn an_interrupted_upgrade_does_not_block_start_up() {
        // A column of version 5 is there already, the version still says 4
        // (an upgrade stopped half-way by an older release).
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("half.db");
        version_4_store(
            &path,
            "ALTER TABLE stories ADD COLUMN item_version INTEGER NOT NULL DEFAULT 0;",
        );
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .conn()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let task = record(
            &store,
            "f",
            &[crate::store::tests::item("https://x.example/a", "g", "T")],
        )
        .remove(0);
        store.save_pending(&pending(&task, 1, "sha256:aa")).unwrap();
        assert_eq!(store.mark_published(&task.story_id, 1).unwrap(), None);
    }

    #[test]
    fn a_failed_upgrade_leaves_the_old_version_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v4.db");
        // A table in the way of version 5's schema makes the upgrade fail
        // after its first ALTERs.
        version_4_store(&path, "CREATE TABLE archive (seq INTEGER PRIMARY KEY);");
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::Corrupt { .. })
        ));
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 4);
        assert_eq!(
            has_column(&conn, "stories", "item_version").unwrap(),
            Some(false)
        );
    }

    #[test]
    fn record_items_waits_for_another_writer_instead_of_failing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.db");
        let worker = SqliteStore::open(&path).unwrap();
        let backfill = SqliteStore::open(&path).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let link = format!("https://b.example/{n}");
                    record(
                        &backfill,
                        "backfill",
                        &[crate::store::tests::item(&link, "g", "T")],
                    );
                }
                n
            })
        };
        for n in 0..300 {
            let link = format!("https://w.example/{n}");
            let items = [crate::store::tests::item(&link, "g", "T")];
            let document = crate::dedup::identify("w", &items);
            let discovered: Vec<DiscoveredItem> =
                crate::store::tests::discovered(&items, &document);
            worker
                .record_items("w", &discovered, &document.ambiguous)
                .expect("a concurrent writer must not make record_items fail");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(writer.join().unwrap() > 0);
    }

    #[test]
    fn a_published_story_keeps_no_item_json() {
        let store = SqliteStore::in_memory().unwrap();
        let link = "https://x.example/s";
        let task = record(&store, "f", &[crate::store::tests::item(link, "g", "T")]).remove(0);
        let item_json = || -> String {
            store
                .conn()
                .query_row("SELECT item FROM stories", [], |r| r.get(0))
                .unwrap()
        };
        assert!(item_json().contains("\"T\""));
        store.save_pending(&pending(&task, 1, "sha256:aa")).unwrap();
        store.mark_published(&task.story_id, 1).unwrap();
        assert_eq!(item_json(), "");
        let work = record(&store, "f", &[crate::store::tests::item(link, "g", "T2")]);
        assert_eq!(work[0].item.title.as_deref(), Some("T2"));
    }

    #[test]
    fn state_survives_reopen_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/feedwire.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            record(
                &store,
                "f",
                &[crate::store::tests::item("https://x.example/s", "g", "T")],
            );
            store
                .save_feed_state(&FeedState {
                    feed_id: "f".into(),
                    url: "https://x.example/feed".into(),
                    etag: Some("\"abc\"".into()),
                    ..FeedState::default()
                })
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.stats().unwrap().discovered, 1);
        assert_eq!(
            store.stories_per_feed().unwrap(),
            vec![("f".to_string(), 1)]
        );
        assert_eq!(store.feed_states().unwrap().len(), 1);
        assert_eq!(
            store.feed_state("f").unwrap().unwrap().etag.as_deref(),
            Some("\"abc\"")
        );

        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![0x42u8; 8192]).unwrap();
        assert!(matches!(
            SqliteStore::open(&garbage),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
