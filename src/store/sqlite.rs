//! The embedded store: one SQLite file in WAL mode.
//!
//! WAL with `synchronous = NORMAL` keeps every committed transaction across a
//! process crash (a power loss may lose the last few, which the at-least-once
//! design re-sends). A file that is not a feedwire store, or is corrupt, is a
//! clear error at start-up, never a silent reset.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use super::{
    ArchivedMessage, DiscoveredItem, FeedState, Store, StoreError, StoreStats, StoryRecord,
    StoryState, StoryTask, StoryWork, event_name, event_of,
};
use crate::dedup::StoryIdentity;
use crate::message::{Envelope, message_id};
use crate::schedule::{Pace, SkipSchedule};

/// 1: feeds, stories, keys, sightings. 2: the archive of published
/// messages and replay positions (added by `CREATE TABLE IF NOT EXISTS`).
/// 3: `feeds.moved_url`, where a feed moved permanently (added by ALTER).
/// 4: the feed's pace, `<ttl>` and skip schedule, for the scheduler (ALTER).
const SCHEMA_VERSION: i64 = 4;

/// Columns added to `feeds` after version 1, with the version that added them.
const ADDED_FEED_COLUMNS: &[(i64, &str)] = &[
    (3, "moved_url TEXT"),
    (4, "pace_gap_ms INTEGER"),
    (4, "newest_item_ms INTEGER"),
    (4, "ttl_ms INTEGER"),
    (4, "skip_hours INTEGER NOT NULL DEFAULT 0"),
    (4, "skip_days INTEGER NOT NULL DEFAULT 0"),
];

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
    published_ms INTEGER
);
CREATE INDEX IF NOT EXISTS stories_unfinished ON stories (changed_ms) WHERE state != 'published';
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
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(corrupt)?;
        let has_tables: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .map_err(corrupt)?;
        // Older versions are upgraded by the schema's CREATE ... IF NOT
        // EXISTS; version 0 with tables is some other program's database.
        if (has_tables && version == 0) || version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt {
                path: display.to_string(),
                reason: format!(
                    "schema version {version}, this feedwire knows 1 to {SCHEMA_VERSION} (is it another program's database, or a newer feedwire's?)"
                ),
            });
        }
        if has_tables {
            for (added_in, column) in ADDED_FEED_COLUMNS {
                if version < *added_in {
                    conn.execute_batch(&format!("ALTER TABLE feeds ADD COLUMN {column}"))
                        .map_err(corrupt)?;
                }
            }
        }
        conn.execute_batch(SCHEMA).map_err(corrupt)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(corrupt)?;
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

fn find_story(conn: &Connection, identity: &StoryIdentity) -> rusqlite::Result<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT story_id FROM story_keys WHERE key = ?1")?;
    for key in identity.all_keys() {
        if let Some(id) = stmt
            .query_row([key], |r| r.get::<_, String>(0))
            .optional()?
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
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
    ) -> Result<Vec<StoryTask>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let now = now_ms();
        let mut work = Vec::new();
        for discovered in items {
            let item_json = serde_json::to_string(&discovered.item)?;
            match find_story(&tx, &discovered.identity)? {
                None => {
                    let story_id = discovered.identity.story_id();
                    let inserted = tx.execute(
                        "INSERT OR IGNORE INTO stories (id, state, feed_id, url, item, first_seen_ms, changed_ms)
                         VALUES (?1, 'discovered', ?2, ?3, ?4, ?5, ?5)",
                        params![story_id, feed_id, discovered.identity.url, item_json, now],
                    )?;
                    for key in discovered.identity.all_keys() {
                        tx.execute(
                            "INSERT OR IGNORE INTO story_keys (key, story_id) VALUES (?1, ?2)",
                            params![key, story_id],
                        )?;
                    }
                    tx.execute(
                        "INSERT OR REPLACE INTO sightings (feed_id, story_id, fingerprint) VALUES (?1, ?2, ?3)",
                        params![feed_id, story_id, discovered.fingerprint],
                    )?;
                    if inserted == 1 {
                        work.push(StoryTask {
                            story_id,
                            feed_id: feed_id.to_string(),
                            item: discovered.item.clone(),
                            published_revision: 0,
                            published_hash: None,
                        });
                    }
                }
                Some(story_id) => {
                    for key in discovered.identity.all_keys() {
                        tx.execute(
                            "INSERT OR IGNORE INTO story_keys (key, story_id) VALUES (?1, ?2)",
                            params![key, story_id],
                        )?;
                    }
                    let previous: Option<String> = tx
                        .query_row(
                            "SELECT fingerprint FROM sightings WHERE feed_id = ?1 AND story_id = ?2",
                            params![feed_id, story_id],
                            |r| r.get(0),
                        )
                        .optional()?;
                    if previous.as_deref() == Some(discovered.fingerprint.as_str()) {
                        continue;
                    }
                    tx.execute(
                        "INSERT OR REPLACE INTO sightings (feed_id, story_id, fingerprint) VALUES (?1, ?2, ?3)",
                        params![feed_id, story_id, discovered.fingerprint],
                    )?;
                    if previous.is_none() {
                        // The same story seen in another feed: not news.
                        continue;
                    }
                    // This feed's item changed: look at the story again if it
                    // is done; one already in progress picks up nothing new.
                    let reopened: Option<(u32, Option<String>)> = tx
                        .query_row(
                            "UPDATE stories SET state = 'discovered', feed_id = ?2, item = ?3, changed_ms = ?4
                             WHERE id = ?1 AND state = 'published'
                             RETURNING revision, content_hash",
                            params![story_id, feed_id, item_json, now],
                            |r| Ok((r.get(0)?, r.get(1)?)),
                        )
                        .optional()?;
                    if let Some((revision, hash)) = reopened {
                        work.push(StoryTask {
                            story_id,
                            feed_id: feed_id.to_string(),
                            item: discovered.item.clone(),
                            published_revision: revision,
                            published_hash: hash,
                        });
                    }
                }
            }
        }
        tx.commit()?;
        Ok(work)
    }

    fn lookup(&self, identity: &StoryIdentity) -> Result<Option<StoryRecord>, StoreError> {
        let conn = self.conn();
        let Some(story_id) = find_story(&conn, identity)? else {
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

    fn save_pending(&self, envelope: &Envelope, content_hash: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE stories SET state = 'fetched', pending_revision = ?2, pending_hash = ?3,
                pending_event = ?4, pending_routing_key = ?5, pending_timestamp = ?6,
                pending_body = ?7, changed_ms = ?8
             WHERE id = ?1",
            params![
                envelope.story_id,
                envelope.revision,
                content_hash,
                event_name(envelope.event),
                envelope.routing_key,
                envelope.timestamp,
                envelope.body,
                now_ms()
            ],
        )?;
        Ok(())
    }

    fn mark_published(&self, story_id: &str, revision: u32) -> Result<(), StoreError> {
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
        tx.execute(
            "UPDATE stories SET state = 'published', revision = pending_revision,
                content_hash = pending_hash, pending_revision = NULL, pending_hash = NULL,
                pending_event = NULL, pending_routing_key = NULL, pending_timestamp = NULL,
                pending_body = NULL, published_ms = ?3, changed_ms = ?3
             WHERE id = ?1 AND pending_revision = ?2",
            params![story_id, revision, now],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn mark_unchanged(&self, story_id: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE stories SET state = 'published', changed_ms = ?2
             WHERE id = ?1 AND state = 'discovered' AND revision > 0",
            params![story_id, now_ms()],
        )?;
        Ok(())
    }

    fn unfinished(&self, changed_before_ms: i64) -> Result<Vec<StoryWork>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, state, feed_id, item, revision, content_hash, pending_revision,
                    pending_event, pending_routing_key, pending_timestamp, pending_body
             FROM stories WHERE state != 'published' AND changed_ms <= ?1 ORDER BY changed_ms, id",
        )?;
        let mut rows = stmt.query([changed_before_ms])?;
        let mut work = Vec::new();
        while let Some(row) = rows.next()? {
            let story_id: String = row.get(0)?;
            let state: String = row.get(1)?;
            if state == "fetched" {
                let revision: u32 = row.get(6)?;
                let event: String = row.get(7)?;
                work.push(StoryWork::Republish(Envelope {
                    message_id: message_id(&story_id, revision),
                    story_id,
                    revision,
                    event: event_of(&event),
                    routing_key: row.get(8)?,
                    timestamp: row.get(9)?,
                    body: row.get(10)?,
                }));
            } else {
                let item_json: String = row.get(3)?;
                work.push(StoryWork::Process(StoryTask {
                    story_id,
                    feed_id: row.get(2)?,
                    item: serde_json::from_str(&item_json)?,
                    published_revision: row.get(4)?,
                    published_hash: row.get(5)?,
                }));
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
    use crate::dedup::item_fingerprint;
    use crate::feed::FeedItem;
    use crate::message::ArticleEvent;

    fn discovered(link: &str, guid: &str, title: &str) -> DiscoveredItem {
        let item = FeedItem {
            link: Some(link.into()),
            guid: Some(guid.into()),
            title: Some(title.into()),
            ..FeedItem::default()
        };
        DiscoveredItem {
            identity: StoryIdentity::of(&item),
            fingerprint: item_fingerprint(&item),
            item,
        }
    }

    fn envelope(story_id: &str, revision: u32) -> Envelope {
        Envelope {
            story_id: story_id.into(),
            revision,
            message_id: message_id(story_id, revision),
            event: if revision == 1 {
                ArticleEvent::Created
            } else {
                ArticleEvent::Updated
            },
            routing_key: "article.a".into(),
            timestamp: 1,
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn new_story_once_across_feeds_and_guid_variants() {
        let store = SqliteStore::in_memory().unwrap();
        let a = discovered(
            "https://x.example/s1?at_medium=RSS",
            "https://x.example/s1#0",
            "T",
        );
        let b = discovered("https://x.example/s1", "https://x.example/s1#3", "T");
        let work = store
            .record_items("feed-a", &[a.clone(), a.clone()])
            .unwrap();
        assert_eq!(
            work.len(),
            1,
            "a guid repeated in one document is one story"
        );
        assert!(store.record_items("feed-b", &[b]).unwrap().is_empty());
        assert!(store.record_items("feed-a", &[a]).unwrap().is_empty());
    }

    #[test]
    fn publish_lifecycle_and_resume() {
        let store = SqliteStore::in_memory().unwrap();
        let item = discovered("https://x.example/s1", "g1", "T");
        let task = store.record_items("f", &[item]).unwrap().remove(0);
        let unfinished = store.unfinished(i64::MAX).unwrap();
        assert_eq!(unfinished, vec![StoryWork::Process(task.clone())]);

        let env = envelope(&task.story_id, 1);
        store.save_pending(&env, "sha256:aa").unwrap();
        assert_eq!(
            store.unfinished(i64::MAX).unwrap(),
            vec![StoryWork::Republish(env)]
        );

        store.mark_published(&task.story_id, 1).unwrap();
        assert!(store.unfinished(i64::MAX).unwrap().is_empty());
        let record = store.story(&task.story_id).unwrap().unwrap();
        assert_eq!(record.state, StoryState::Published);
        assert_eq!(record.revision, 1);
        assert_eq!(record.content_hash.as_deref(), Some("sha256:aa"));
    }

    #[test]
    fn changed_item_reopens_a_published_story() {
        let store = SqliteStore::in_memory().unwrap();
        let first = discovered("https://x.example/s1", "g1", "Old title");
        let task = store.record_items("f", &[first]).unwrap().remove(0);
        store
            .save_pending(&envelope(&task.story_id, 1), "sha256:aa")
            .unwrap();
        store.mark_published(&task.story_id, 1).unwrap();

        let changed = discovered("https://x.example/s1", "g1", "New title");
        let work = store
            .record_items("f", std::slice::from_ref(&changed))
            .unwrap();
        assert_eq!(work.len(), 1);
        assert_eq!(work[0].published_revision, 1);
        assert_eq!(work[0].published_hash.as_deref(), Some("sha256:aa"));
        // Seen again unchanged: nothing more to do.
        store.mark_unchanged(&task.story_id).unwrap();
        assert!(store.record_items("f", &[changed]).unwrap().is_empty());
        assert!(store.unfinished(i64::MAX).unwrap().is_empty());
    }

    #[test]
    fn confirm_of_an_old_revision_does_not_finish_a_newer_one() {
        let store = SqliteStore::in_memory().unwrap();
        let task = store
            .record_items("f", &[discovered("https://x.example/s", "g", "T")])
            .unwrap()
            .remove(0);
        store
            .save_pending(&envelope(&task.story_id, 2), "sha256:bb")
            .unwrap();
        store.mark_published(&task.story_id, 1).unwrap();
        assert_eq!(store.unfinished(i64::MAX).unwrap().len(), 1);
    }

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

    #[test]
    fn state_survives_reopen_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/feedwire.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .record_items("f", &[discovered("https://x.example/s", "g", "T")])
                .unwrap();
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
