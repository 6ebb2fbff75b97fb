//! Stories: identity keys, sightings per feed, and each story's way from
//! discovered to published.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{known, now_ms};
use crate::dedup::{Sighting, StoryIdentity, story_id_for_key};
use crate::message::{ArticleEvent, Envelope, ExtractionStatus, message_id};
use crate::store::{
    Claimant, DiscoveredItem, PendingMessage, StoreError, StoryRecord, StoryState, StoryTask,
    StoryWork,
};

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
    conn.prepare_cached(
        "INSERT INTO story_keys (key, story_id) VALUES (?1, '')
         ON CONFLICT (key) DO UPDATE SET story_id = ''",
    )?
    .execute([key])?;
    Ok(())
}

/// When an update to a known story hands it to the worker recording it: a
/// published story it reopens, or an open one no worker holds.
const TAKEN: &str =
    "state = 'published' OR (state = 'discovered' AND (lease_until IS NULL OR lease_until < ?4))";

/// Columns [`task_of`] reads, in order.
pub(super) const TASK_COLUMNS: &str =
    "id, feed_id, item, url, item_version, revision, content_hash, status";

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

/// Runs an UPDATE … RETURNING [`TASK_COLUMNS`], state, lease_owner: the
/// task when the update left the story open (`discovered`) and held by
/// `owner` (by anyone, with `None`).
fn reopened(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    owner: Option<&str>,
) -> Result<Option<StoryTask>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let open = row.get::<_, String>(8)? == "discovered";
    let holder: Option<String> = row.get(9)?;
    if open && owner.is_none_or(|owner| holder.as_deref() == Some(owner)) {
        Ok(Some(task_of(row)?))
    } else {
        Ok(None)
    }
}

fn record_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoryRecord> {
    Ok(StoryRecord {
        story_id: row.get(0)?,
        state: known(row, 1, StoryState::parse)?,
        feed_id: row.get(2)?,
        url: row.get(3)?,
        revision: row.get(4)?,
        content_hash: row.get(5)?,
    })
}

const RECORD_COLUMNS: &str = "id, state, feed_id, url, revision, content_hash";

pub(super) fn record_items(
    conn: &mut Connection,
    claimant: &Claimant,
    feed_id: &str,
    items: &[DiscoveredItem],
    ambiguous: &[String],
) -> Result<Vec<StoryTask>, StoreError> {
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
        let body = discovered.body.as_deref();
        let mut found = find_story(&tx, identity)?;
        let mut previous: Option<String> = None;
        // A story this feed showed before under another guid or link
        // fragment, with other text, is another story that happens to
        // share a key (a status page or live blog seen one entry at a
        // time): that key names several.
        while let Some((story_id, key)) = &found.story {
            type Row = (String, Option<String>, Option<String>, Option<String>);
            let seen: Option<Row> = tx
                .prepare_cached(
                    "SELECT fingerprint, guid, fragment, body FROM sightings
                     WHERE feed_id = ?1 AND story_id = ?2",
                )?
                .query_row(params![feed_id, story_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            let other = seen
                .as_ref()
                .is_some_and(|(fingerprint, guid, fragment, seen_body)| {
                    let seen = Sighting {
                        fingerprint: fingerprint.as_str(),
                        guid: guid.as_deref(),
                        fragment: fragment.as_deref(),
                        body: seen_body.as_deref(),
                    };
                    identity.other_than(key, &discovered.fingerprint, body, &seen)
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
            tx.prepare_cached("INSERT OR IGNORE INTO story_keys (key, story_id) VALUES (?1, ?2)")?
                .execute(params![key, story_id])?;
        }
        if is_new {
            previous = tx
                .prepare_cached(
                    "SELECT fingerprint FROM sightings WHERE feed_id = ?1 AND story_id = ?2",
                )?
                .query_row(params![feed_id, story_id], |r| r.get(0))
                .optional()?;
        }
        if previous.as_deref() == Some(discovered.fingerprint.as_str()) {
            continue;
        }
        tx.prepare_cached(
            "INSERT OR REPLACE INTO sightings (feed_id, story_id, fingerprint, guid, fragment, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            feed_id,
            story_id,
            discovered.fingerprint,
            identity.guid,
            identity.fragment,
            body
        ])?;
        let item_json = serde_json::to_string(&discovered.item)?;
        if is_new {
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO stories (id, state, feed_id, url, item, first_seen_ms,
                     changed_ms, lease_owner, lease_until)
                 VALUES (?1, 'discovered', ?2, ?3, ?4, ?5, ?5, ?6, ?7)",
                )?
                .execute(params![
                    story_id,
                    feed_id,
                    identity.url,
                    item_json,
                    now,
                    claimant.id,
                    claimant.lease_until(now)
                ])?;
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
        // This feed's item changed. A finished story opens again, claimed by
        // this worker; one in progress keeps the new item, and opens again
        // once the message being delivered (built from the old one) is
        // confirmed; one waiting unclaimed is taken up with its new item.
        let task = reopened(
            &tx,
            &format!(
                "UPDATE stories SET feed_id = ?2, item = ?3, changed_ms = ?4,
                    item_version = item_version + 1,
                    state = CASE state WHEN 'published' THEN 'discovered' ELSE state END,
                    lease_owner = CASE WHEN {TAKEN} THEN ?5 ELSE lease_owner END,
                    lease_until = CASE WHEN {TAKEN} THEN ?6 ELSE lease_until END
                 WHERE id = ?1
                 RETURNING {TASK_COLUMNS}, state, lease_owner"
            ),
            params![
                story_id,
                feed_id,
                item_json,
                now,
                claimant.id,
                claimant.lease_until(now)
            ],
            Some(&claimant.id),
        )?;
        work.extend(task);
    }
    tx.commit()?;
    Ok(work)
}

pub(super) fn lookup(
    conn: &mut Connection,
    identity: &StoryIdentity,
) -> Result<Option<StoryRecord>, StoreError> {
    let Some((story_id, _)) = find_story(conn, identity)?.story else {
        return Ok(None);
    };
    story(conn, &story_id)
}

pub(super) fn save_pending(
    conn: &mut Connection,
    pending: &PendingMessage,
) -> Result<(), StoreError> {
    let envelope = &pending.envelope;
    conn.prepare_cached(
        "UPDATE stories SET state = 'fetched', pending_revision = ?2, pending_hash = ?3,
            pending_event = ?4, pending_routing_key = ?5, pending_timestamp = ?6,
            pending_body = ?7, changed_ms = ?8, pending_status = ?9,
            pending_item_version = ?10
         WHERE id = ?1",
    )?
    .execute(params![
        envelope.story_id,
        envelope.revision,
        pending.content_hash,
        envelope.event.as_str(),
        envelope.routing_key,
        envelope.timestamp,
        envelope.body,
        now_ms(),
        pending.status.as_str(),
        pending.item_version,
    ])?;
    Ok(())
}

pub(super) fn mark_published(
    conn: &mut Connection,
    story_id: &str,
    revision: u32,
) -> Result<Option<StoryTask>, StoreError> {
    let tx = conn.transaction()?;
    let now = now_ms();
    // The archive keeps every published revision for replay.
    tx.prepare_cached(
        "INSERT OR IGNORE INTO archive (story_id, revision, feed_id, event, routing_key, timestamp, published_ms, body)
         SELECT id, pending_revision, feed_id, pending_event, pending_routing_key, pending_timestamp, ?3, pending_body
         FROM stories WHERE id = ?1 AND pending_revision = ?2",
    )?
    .execute(params![story_id, revision, now])?;
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
                lease_owner = CASE WHEN item_version > pending_item_version THEN lease_owner END,
                lease_until = CASE WHEN item_version > pending_item_version THEN lease_until END,
                published_ms = ?3, changed_ms = ?3
             WHERE id = ?1 AND pending_revision = ?2
             RETURNING {TASK_COLUMNS}, state, lease_owner"
        ),
        params![story_id, revision, now],
        None,
    )?;
    tx.commit()?;
    Ok(task)
}

pub(super) fn mark_unchanged(
    conn: &mut Connection,
    story_id: &str,
    item_version: u32,
) -> Result<Option<StoryTask>, StoreError> {
    reopened(
        conn,
        &format!(
            "UPDATE stories SET
                state = CASE WHEN item_version > ?2 THEN 'discovered' ELSE 'published' END,
                item = CASE WHEN item_version > ?2 THEN item ELSE '' END,
                attempts = 0, changed_ms = ?3,
                lease_owner = CASE WHEN item_version > ?2 THEN lease_owner END,
                lease_until = CASE WHEN item_version > ?2 THEN lease_until END
             WHERE id = ?1 AND state = 'discovered' AND revision > 0
             RETURNING {TASK_COLUMNS}, state, lease_owner"
        ),
        params![story_id, item_version, now_ms()],
        None,
    )
}

pub(super) fn begin_attempt(conn: &mut Connection, story_id: &str) -> Result<u32, StoreError> {
    let attempts = conn
        .prepare_cached(
            "UPDATE stories SET attempts = attempts + 1 WHERE id = ?1 RETURNING attempts",
        )?
        .query_row([story_id], |r| r.get(0))
        .optional()?;
    Ok(attempts.unwrap_or(1))
}

pub(super) fn unfinished(
    conn: &mut Connection,
    changed_before_ms: i64,
) -> Result<Vec<StoryWork>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {TASK_COLUMNS}, state, {PENDING_COLUMNS}
         FROM stories WHERE state != 'published' AND changed_ms <= ?1 ORDER BY changed_ms, id"
    ))?;
    let mut rows = stmt.query([changed_before_ms])?;
    let mut work = Vec::new();
    while let Some(row) = rows.next()? {
        work.push(work_of(row)?);
    }
    Ok(work)
}

/// The pending message's columns, after [`TASK_COLUMNS`] and the state.
pub(super) const PENDING_COLUMNS: &str =
    "pending_revision, pending_event, pending_routing_key, pending_timestamp, pending_body";

/// A story's work from a row of [`TASK_COLUMNS`], state, [`PENDING_COLUMNS`].
pub(super) fn work_of(row: &rusqlite::Row<'_>) -> Result<StoryWork, StoreError> {
    let state: String = row.get(8)?;
    if state != "fetched" {
        return Ok(StoryWork::Process(Box::new(task_of(row)?)));
    }
    let story_id: String = row.get(0)?;
    let revision: u32 = row.get(9)?;
    Ok(StoryWork::Republish(Envelope {
        message_id: message_id(&story_id, revision),
        story_id,
        revision,
        event: known(row, 10, ArticleEvent::parse)?,
        routing_key: row.get(11)?,
        timestamp: row.get(12)?,
        body: row.get(13)?,
    }))
}

pub(super) fn story(
    conn: &mut Connection,
    story_id: &str,
) -> Result<Option<StoryRecord>, StoreError> {
    let record = conn
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM stories WHERE id = ?1"
        ))?
        .query_row([story_id], record_of)
        .optional()?;
    Ok(record)
}

pub(super) fn stories_per_feed(conn: &mut Connection) -> Result<Vec<(String, u64)>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT feed_id, count(*) FROM stories GROUP BY feed_id ORDER BY feed_id")?;
    let counts = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(counts)
}
