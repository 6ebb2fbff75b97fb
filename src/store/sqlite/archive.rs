//! The archive of published messages, replay positions, retention, and the
//! store's figures.

use rusqlite::{Connection, OptionalExtension, params};

use super::{known, now_ms};
use crate::message::{ArticleEvent, Envelope, message_id};
use crate::store::{ArchivedMessage, StoreError, StoreStats, StoryState};

pub(super) fn archived(
    conn: &mut Connection,
    after_seq: i64,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: usize,
) -> Result<Vec<ArchivedMessage>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, story_id, revision, feed_id, event, routing_key, timestamp, published_ms, body
         FROM archive WHERE seq > ?1 AND published_ms >= ?2 AND published_ms <= ?3
         ORDER BY seq LIMIT ?4 + 0",
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
            Ok(ArchivedMessage {
                seq: r.get(0)?,
                feed_id: r.get(3)?,
                published_ms: r.get(7)?,
                envelope: Envelope {
                    message_id: message_id(&story_id, revision),
                    story_id,
                    revision,
                    event: known(r, 4, ArticleEvent::parse)?,
                    routing_key: r.get(5)?,
                    timestamp: r.get(6)?,
                    body: r.get(8)?,
                },
            })
        },
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub(super) fn replay_position(
    conn: &mut Connection,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    let seq = conn
        .query_row(
            "SELECT last_seq FROM replay_progress WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq)
}

pub(super) fn save_replay_position(
    conn: &mut Connection,
    name: &str,
    seq: Option<i64>,
) -> Result<(), StoreError> {
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

pub(super) fn prune_archive(
    conn: &mut Connection,
    older_than_ms: Option<i64>,
    max_bytes: Option<u64>,
) -> Result<u64, StoreError> {
    let mut deleted = 0u64;
    if let Some(cutoff) = older_than_ms {
        deleted += conn.execute("DELETE FROM archive WHERE published_ms < ?1", [cutoff])? as u64;
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
            let mut stmt = conn.prepare("SELECT seq, length(body) FROM archive ORDER BY seq")?;
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

pub(super) fn stats(conn: &mut Connection) -> Result<StoreStats, StoreError> {
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
        let count: u64 = row.get(1)?;
        stats.stories += count;
        match known(row, 0, StoryState::parse)? {
            StoryState::Discovered => stats.discovered = count,
            StoryState::Fetched => stats.fetched = count,
            StoryState::Published => stats.published = count,
        }
    }
    Ok(stats)
}

pub(super) fn checkpoint(conn: &mut Connection) -> Result<(), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}
