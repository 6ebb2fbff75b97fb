//! Confirms, the archive of published messages, replay positions,
//! retention, and the store's figures.
//!
//! What `seq` guarantees. An identity column numbers rows as they are
//! inserted, not as they commit: of two confirms in flight, seq 11 may
//! commit before seq 10, and a replay that read up to 11 would resume past
//! 10 for good. So a confirm holds an advisory lock in shared mode from
//! before its row is numbered until its commit, and [`archived`] reads
//! under the same lock in exclusive mode: by the time it has the lock,
//! every confirm that drew a number has committed or rolled back, and any
//! confirm that comes after draws a larger one. A reader therefore never
//! sees seq n while a smaller one is still to come: rows appear to it in
//! seq order, the order confirms were recorded in, and a replay resuming
//! after n misses nothing. (Gaps are confirms rolled back, revisions
//! archived already, and pruned rows.)
//!
//! The cost falls on replays, not on publishing: confirms never wait for
//! each other (shared with shared), so their commits share WAL flushes; a
//! read of the archive waits for the confirms in flight (milliseconds) and
//! holds new ones back for the length of one query.

use std::sync::atomic::Ordering;

use super::PostgresStore;
use super::stories::{TASK_COLUMNS, reopened};
use super::wire::{BEGIN, COMMIT, Step, known, now_ms, u32_at};
use crate::message::{ArticleEvent, Envelope, message_id};
use crate::store::{ArchivedMessage, StoreError, StoreStats, StoryState, StoryTask};

/// Taken by every confirm, together.
const CONFIRMING: &str =
    "SELECT pg_advisory_xact_lock_shared(hashtext('feedwire.archive'), hashtext(current_schema()))";
/// Taken by a reader of the archive, alone.
const READING: &str =
    "SELECT pg_advisory_xact_lock(hashtext('feedwire.archive'), hashtext(current_schema()))";

/// Bytes of the current schema's tables with their indexes and TOAST.
const SIZE: &str = "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
     FROM pg_class c
     WHERE c.relkind = 'r'
       AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())";

fn keep_size(store: &PostgresStore, rows: &[tokio_postgres::Row]) -> Result<(), StoreError> {
    if let Some(row) = rows.first() {
        let bytes: i64 = row.try_get("bytes")?;
        store.size.store(bytes.max(0) as u64, Ordering::Relaxed);
    }
    Ok(())
}

pub(super) async fn refresh_size(store: &PostgresStore) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [size] = s.prepare([SIZE]).await?;
    let rows = s.query(&size, vec![]).await?;
    keep_size(store, &rows)
}

/// The broker confirmed `revision`: archived and marked in one
/// transaction, sent in one go (one round trip).
pub(super) async fn mark_published(
    store: &PostgresStore,
    story_id: &str,
    revision: u32,
) -> Result<Option<StoryTask>, StoreError> {
    let mut s = store.session().await?;
    let [archive, update] = s
        .prepare([
            "INSERT INTO archive (story_id, revision, feed_id, event, routing_key, timestamp,
                published_ms, body)
             SELECT id, pending_revision, feed_id, pending_event, pending_routing_key,
                pending_timestamp, $3, pending_body
             FROM stories WHERE id = $1 AND pending_revision = $2
             ON CONFLICT (story_id, revision) DO NOTHING",
            // A story whose item changed while this message was on its way
            // stays open; a finished one drops its item JSON.
            &format!(
                "UPDATE stories SET
                    state = CASE WHEN item_version > pending_item_version THEN 'discovered' ELSE 'published' END,
                    item = CASE WHEN item_version > pending_item_version THEN item ELSE '' END,
                    revision = pending_revision, content_hash = pending_hash, status = pending_status,
                    pending_revision = NULL, pending_hash = NULL, pending_event = NULL,
                    pending_routing_key = NULL, pending_timestamp = NULL, pending_body = NULL,
                    pending_status = NULL, pending_item_version = NULL, attempts = 0,
                    lease_owner = CASE WHEN item_version > pending_item_version THEN lease_owner END,
                    lease_until = CASE WHEN item_version > pending_item_version THEN lease_until END,
                    published_ms = $3, changed_ms = $3
                 WHERE id = $1 AND pending_revision = $2
                 RETURNING {TASK_COLUMNS}, state"
            ),
        ])
        .await?;
    let (revision, now) = (i64::from(revision), now_ms());
    let answers = s
        .exchange(vec![
            BEGIN,
            Step::Text(CONFIRMING),
            Step::Query(&archive, vec![&story_id, &revision, &now]),
            Step::Query(&update, vec![&story_id, &revision, &now]),
            COMMIT,
        ])
        .await?;
    reopened(&answers[3])
}

pub(super) async fn archived(
    store: &PostgresStore,
    after_seq: i64,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: usize,
) -> Result<Vec<ArchivedMessage>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare([
            "SELECT seq, story_id, revision, feed_id, event, routing_key, timestamp, published_ms, body
             FROM archive WHERE seq > $1 AND published_ms >= $2 AND published_ms <= $3
             ORDER BY seq LIMIT $4",
        ])
        .await?;
    let (since, until) = (since_ms.unwrap_or(i64::MIN), until_ms.unwrap_or(i64::MAX));
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let answers = s
        .exchange(vec![
            BEGIN,
            Step::Text(READING),
            Step::Query(&select, vec![&after_seq, &since, &until, &limit]),
            COMMIT,
        ])
        .await?;
    answers[2]
        .iter()
        .map(|r| {
            let story_id: String = r.try_get("story_id")?;
            let revision = u32_at(r, "revision")?;
            Ok(ArchivedMessage {
                seq: r.try_get("seq")?,
                feed_id: r.try_get("feed_id")?,
                published_ms: r.try_get("published_ms")?,
                envelope: Envelope {
                    message_id: message_id(&story_id, revision),
                    story_id,
                    revision,
                    event: known(r, "event", ArticleEvent::parse)?,
                    routing_key: r.try_get("routing_key")?,
                    timestamp: r.try_get("timestamp")?,
                    body: r.try_get("body")?,
                },
            })
        })
        .collect()
}

pub(super) async fn replay_position(
    store: &PostgresStore,
    name: &str,
) -> Result<Option<i64>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare(["SELECT last_seq FROM replay_progress WHERE name = $1"])
        .await?;
    let rows = s.query(&select, vec![&name]).await?;
    Ok(rows.first().map(|r| r.try_get("last_seq")).transpose()?)
}

pub(super) async fn save_replay_position(
    store: &PostgresStore,
    name: &str,
    seq: Option<i64>,
) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [upsert, delete] = s
        .prepare([
            "INSERT INTO replay_progress (name, last_seq, updated_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET last_seq = excluded.last_seq,
                updated_ms = excluded.updated_ms",
            "DELETE FROM replay_progress WHERE name = $1",
        ])
        .await?;
    let now = now_ms();
    match seq {
        Some(seq) => s.query(&upsert, vec![&name, &seq, &now]).await?,
        None => s.query(&delete, vec![&name]).await?,
    };
    Ok(())
}

pub(super) async fn prune_archive(
    store: &PostgresStore,
    older_than_ms: Option<i64>,
    max_bytes: Option<u64>,
) -> Result<u64, StoreError> {
    let mut s = store.session().await?;
    let [by_age, by_size, size] = s
        .prepare([
            "WITH d AS (DELETE FROM archive WHERE published_ms < $1 RETURNING 1)
             SELECT count(*) AS n FROM d",
            // The oldest first, until the bodies fit: up to the first row
            // at which the running total reaches the excess.
            "WITH d AS (
                DELETE FROM archive WHERE seq <= (
                    SELECT seq FROM (
                        SELECT seq, sum(octet_length(body)) OVER (ORDER BY seq) AS upto,
                               sum(octet_length(body)) OVER () AS total
                        FROM archive) t
                    WHERE total > $1 AND upto >= total - $1
                    ORDER BY seq LIMIT 1)
                RETURNING 1)
             SELECT count(*) AS n FROM d",
            SIZE,
        ])
        .await?;
    let max_bytes = max_bytes.map(|max| i64::try_from(max).unwrap_or(i64::MAX));
    let mut steps = vec![BEGIN];
    if let Some(cutoff) = &older_than_ms {
        steps.push(Step::Query(&by_age, vec![cutoff]));
    }
    if let Some(max) = &max_bytes {
        steps.push(Step::Query(&by_size, vec![max]));
    }
    steps.push(COMMIT);
    steps.push(Step::Query(&size, vec![]));
    let answers = s.exchange(steps).await?;
    let mut deleted = 0u64;
    for rows in &answers[1..answers.len() - 2] {
        if let Some(row) = rows.first() {
            deleted += row.try_get::<_, i64>("n")? as u64;
        }
    }
    keep_size(store, &answers[answers.len() - 1])?;
    Ok(deleted)
}

pub(super) async fn stats(store: &PostgresStore) -> Result<StoreStats, StoreError> {
    let mut s = store.session().await?;
    let [feeds, archive, states, size] = s
        .prepare([
            "SELECT count(*) AS n FROM feeds",
            "SELECT count(*) AS n, coalesce(sum(octet_length(body)), 0)::bigint AS bytes,
                min(published_ms) AS oldest, max(published_ms) AS newest
             FROM archive",
            "SELECT state, count(*) AS n FROM stories GROUP BY state",
            SIZE,
        ])
        .await?;
    let answers = s
        .exchange(vec![
            Step::Query(&feeds, vec![]),
            Step::Query(&archive, vec![]),
            Step::Query(&states, vec![]),
            Step::Query(&size, vec![]),
        ])
        .await?;
    let count = |row: &tokio_postgres::Row| -> Result<u64, StoreError> {
        Ok(row.try_get::<_, i64>("n")?.max(0) as u64)
    };
    let mut stats = StoreStats::default();
    if let Some(row) = answers[0].first() {
        stats.feeds = count(row)?;
    }
    if let Some(row) = answers[1].first() {
        stats.archived_messages = count(row)?;
        stats.archive_bytes = row.try_get::<_, i64>("bytes")?.max(0) as u64;
        stats.archive_oldest_ms = row.try_get("oldest")?;
        stats.archive_newest_ms = row.try_get("newest")?;
    }
    for row in &answers[2] {
        let n = count(row)?;
        stats.stories += n;
        match known(row, "state", StoryState::parse)? {
            StoryState::Discovered => stats.discovered = n,
            StoryState::Fetched => stats.fetched = n,
            StoryState::Published => stats.published = n,
        }
    }
    keep_size(store, &answers[3])?;
    Ok(stats)
}
