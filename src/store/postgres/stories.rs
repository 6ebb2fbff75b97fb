//! Each story's way from discovered to published: claims, the built
//! message, attempts, and what operators and tests read.

use tokio_postgres::Row;

use super::PostgresStore;
use super::wire::{known, now_ms, u32_at};
use crate::message::{ArticleEvent, Envelope, ExtractionStatus, message_id};
use crate::store::{
    Claimant, PendingMessage, StoreError, StoryRecord, StoryState, StoryTask, StoryWork,
};

/// Columns [`task_of`] reads.
pub(super) const TASK_COLUMNS: &str =
    "id, feed_id, item, url, item_version, revision, content_hash, status";

/// The pending message's columns, read by [`work_of`] with
/// [`TASK_COLUMNS`] and the state.
const PENDING_COLUMNS: &str =
    "pending_revision, pending_event, pending_routing_key, pending_timestamp, pending_body";

pub(super) const RECORD_COLUMNS: &str = "id, state, feed_id, url, revision, content_hash";

pub(super) fn task_of(row: &Row) -> Result<StoryTask, StoreError> {
    let status: Option<&str> = row.try_get("status")?;
    Ok(StoryTask {
        story_id: row.try_get("id")?,
        feed_id: row.try_get("feed_id")?,
        item: serde_json::from_str(row.try_get::<_, &str>("item")?)?,
        url: row.try_get("url")?,
        item_version: u32_at(row, "item_version")?,
        published_revision: u32_at(row, "revision")?,
        published_hash: row.try_get("content_hash")?,
        published_status: status.and_then(ExtractionStatus::parse),
    })
}

pub(super) fn record_of(row: &Row) -> Result<StoryRecord, StoreError> {
    Ok(StoryRecord {
        story_id: row.try_get("id")?,
        state: known(row, "state", StoryState::parse)?,
        feed_id: row.try_get("feed_id")?,
        url: row.try_get("url")?,
        revision: u32_at(row, "revision")?,
        content_hash: row.try_get("content_hash")?,
    })
}

/// A story's work from a row of [`TASK_COLUMNS`], state, [`PENDING_COLUMNS`].
fn work_of(row: &Row) -> Result<StoryWork, StoreError> {
    if row.try_get::<_, &str>("state")? != "fetched" {
        return Ok(StoryWork::Process(Box::new(task_of(row)?)));
    }
    let story_id: String = row.try_get("id")?;
    let revision = u32_at(row, "pending_revision")?;
    Ok(StoryWork::Republish(Envelope {
        message_id: message_id(&story_id, revision),
        story_id,
        revision,
        event: known(row, "pending_event", ArticleEvent::parse)?,
        routing_key: row.try_get("pending_routing_key")?,
        timestamp: row.try_get("pending_timestamp")?,
        body: row.try_get("pending_body")?,
    }))
}

/// Runs an UPDATE … RETURNING [`TASK_COLUMNS`], state: the task when the
/// update left the story open (`discovered`).
pub(super) fn reopened(rows: &[Row]) -> Result<Option<StoryTask>, StoreError> {
    match rows.first() {
        Some(row) if row.try_get::<_, &str>("state")? == "discovered" => Ok(Some(task_of(row)?)),
        _ => Ok(None),
    }
}

pub(super) async fn save_pending(
    store: &PostgresStore,
    pending: &PendingMessage,
) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [update] = s
        .prepare([
            "UPDATE stories SET state = 'fetched', pending_revision = $2, pending_hash = $3,
                pending_event = $4, pending_routing_key = $5, pending_timestamp = $6,
                pending_body = $7, changed_ms = $8, pending_status = $9,
                pending_item_version = $10
             WHERE id = $1",
        ])
        .await?;
    let envelope = &pending.envelope;
    let revision = i64::from(envelope.revision);
    let item_version = i64::from(pending.item_version);
    let now = now_ms();
    s.query(
        &update,
        vec![
            &envelope.story_id,
            &revision,
            &pending.content_hash,
            &envelope.event.as_str(),
            &envelope.routing_key,
            &envelope.timestamp,
            &envelope.body,
            &now,
            &pending.status.as_str(),
            &item_version,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn mark_unchanged(
    store: &PostgresStore,
    story_id: &str,
    item_version: u32,
) -> Result<Option<StoryTask>, StoreError> {
    let mut s = store.session().await?;
    let [update] = s
        .prepare([&format!(
            "UPDATE stories SET
                state = CASE WHEN item_version > $2 THEN 'discovered' ELSE 'published' END,
                item = CASE WHEN item_version > $2 THEN item ELSE '' END,
                attempts = 0, changed_ms = $3,
                lease_owner = CASE WHEN item_version > $2 THEN lease_owner END,
                lease_until = CASE WHEN item_version > $2 THEN lease_until END
             WHERE id = $1 AND state = 'discovered' AND revision > 0
             RETURNING {TASK_COLUMNS}, state"
        )])
        .await?;
    let (version, now) = (i64::from(item_version), now_ms());
    reopened(&s.query(&update, vec![&story_id, &version, &now]).await?)
}

pub(super) async fn begin_attempt(
    store: &PostgresStore,
    story_id: &str,
) -> Result<u32, StoreError> {
    let mut s = store.session().await?;
    let [update] = s
        .prepare(["UPDATE stories SET attempts = attempts + 1 WHERE id = $1 RETURNING attempts"])
        .await?;
    let rows = s.query(&update, vec![&story_id]).await?;
    Ok(rows
        .first()
        .map(|r| u32_at(r, "attempts"))
        .transpose()?
        .unwrap_or(1))
}

pub(super) async fn release(
    store: &PostgresStore,
    story_id: &str,
    until_ms: i64,
) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [update] = s
        .prepare([
            "UPDATE stories SET lease_owner = NULL, lease_until = $2, changed_ms = $3
             WHERE id = $1 AND state <> 'published'",
        ])
        .await?;
    let now = now_ms();
    s.query(&update, vec![&story_id, &until_ms, &now]).await?;
    Ok(())
}

pub(super) async fn claim_unfinished(
    store: &PostgresStore,
    claimant: &Claimant,
    now_ms: i64,
    limit: usize,
    waiting_too: bool,
) -> Result<Vec<StoryWork>, StoreError> {
    let mut s = store.session().await?;
    // As claim_due_feeds: SKIP LOCKED, and the lease set in the same
    // statement.
    let [claim] = s
        .prepare([&format!(
            "UPDATE stories SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM stories
                          WHERE state <> 'published'
                            AND (lease_until IS NULL OR lease_until < $3
                                 OR ($5 AND lease_owner IS NULL))
                          ORDER BY changed_ms, id LIMIT $4
                          FOR UPDATE SKIP LOCKED)
             RETURNING {TASK_COLUMNS}, state, {PENDING_COLUMNS}, changed_ms"
        )])
        .await?;
    let until = claimant.lease_until(now_ms);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = s
        .query(
            &claim,
            vec![&claimant.id, &until, &now_ms, &limit, &waiting_too],
        )
        .await?;
    let mut claimed = rows
        .iter()
        .map(|row| {
            let changed: i64 = row.try_get("changed_ms")?;
            Ok((changed, work_of(row)?))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // RETURNING keeps no order: oldest first, as the subquery chose them.
    claimed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.story_id().cmp(b.1.story_id()))
    });
    Ok(claimed.into_iter().map(|(_, work)| work).collect())
}

pub(super) async fn unfinished(
    store: &PostgresStore,
    changed_before_ms: i64,
) -> Result<Vec<StoryWork>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare([&format!(
            "SELECT {TASK_COLUMNS}, state, {PENDING_COLUMNS}
             FROM stories WHERE state <> 'published' AND changed_ms <= $1
             ORDER BY changed_ms, id"
        )])
        .await?;
    s.query(&select, vec![&changed_before_ms])
        .await?
        .iter()
        .map(work_of)
        .collect()
}

pub(super) async fn story(
    store: &PostgresStore,
    story_id: &str,
) -> Result<Option<StoryRecord>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare([&format!(
            "SELECT {RECORD_COLUMNS} FROM stories WHERE id = $1"
        )])
        .await?;
    s.query(&select, vec![&story_id])
        .await?
        .first()
        .map(record_of)
        .transpose()
}

pub(super) async fn unfinished_unclaimed(
    store: &PostgresStore,
    now_ms: i64,
) -> Result<u64, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare(["SELECT count(*) AS n FROM stories
                   WHERE state <> 'published' AND (lease_owner IS NULL OR lease_until < $1)"])
        .await?;
    let rows = s.query(&select, vec![&now_ms]).await?;
    let n: i64 = rows[0].try_get("n")?;
    Ok(n as u64)
}

pub(super) async fn stories_per_feed(
    store: &PostgresStore,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare(["SELECT feed_id, count(*) AS n FROM stories GROUP BY feed_id ORDER BY feed_id"])
        .await?;
    s.query(&select, vec![])
        .await?
        .iter()
        .map(|r| {
            let n: i64 = r.try_get("n")?;
            Ok((r.try_get("feed_id")?, n as u64))
        })
        .collect()
}
