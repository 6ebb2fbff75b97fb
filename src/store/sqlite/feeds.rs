//! The feed list and each feed's poll state, claimed by one worker at a
//! time.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::config::FeedConfig;
use crate::schedule::{LastStatus, Pace, SkipSchedule};
use crate::store::{Claimant, FeedState, FeedSync, StoreError};

/// Where a feed came from: the config (synchronised at every start) or
/// `feeds add` (kept until `feeds remove`).
const FROM_CONFIG: &str = "config";
const FROM_COMMAND: &str = "command";

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
        last_status: r
            .get::<_, Option<String>>(8)?
            .map(|text| {
                LastStatus::parse(&text).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        8,
                        rusqlite::types::Type::Text,
                        format!("unknown last_status `{text}`").into(),
                    )
                })
            })
            .transpose()?,
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

pub(super) fn feed_state(
    conn: &mut Connection,
    feed_id: &str,
) -> Result<Option<FeedState>, StoreError> {
    let state = conn
        .prepare_cached(&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?1"))?
        .query_row([feed_id], feed_state_of)
        .optional()?;
    Ok(state)
}

pub(super) fn feed_states(conn: &mut Connection) -> Result<Vec<FeedState>, StoreError> {
    let mut stmt = conn.prepare(&format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY id"))?;
    let states = stmt
        .query_map([], feed_state_of)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(states)
}

/// Saves the states in one transaction: one commit for a batch of polls.
pub(super) fn save_feed_states(
    conn: &mut Connection,
    states: &[FeedState],
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for state in states {
        save_feed_state(&tx, state)?;
    }
    tx.commit()?;
    Ok(())
}

fn save_feed_state(conn: &Connection, s: &FeedState) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO feeds (id, url, title, etag, last_modified, next_due_ms,
                            consecutive_failures, last_polled_ms, last_status, last_error, moved_url,
                            pace_gap_ms, newest_item_ms, ttl_ms, skip_hours, skip_days)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
         ON CONFLICT (id) DO UPDATE SET lease_owner = NULL, lease_until = NULL,
            url = excluded.url, title = excluded.title,
            etag = excluded.etag, last_modified = excluded.last_modified,
            next_due_ms = excluded.next_due_ms,
            consecutive_failures = excluded.consecutive_failures,
            last_polled_ms = excluded.last_polled_ms, last_status = excluded.last_status,
            last_error = excluded.last_error, moved_url = excluded.moved_url,
            pace_gap_ms = excluded.pace_gap_ms, newest_item_ms = excluded.newest_item_ms,
            ttl_ms = excluded.ttl_ms, skip_hours = excluded.skip_hours,
            skip_days = excluded.skip_days",
    )?
    .execute(params![
        s.feed_id,
        s.url,
        s.title,
        s.etag,
        s.last_modified,
        s.next_due_ms,
        s.consecutive_failures,
        s.last_polled_ms,
        s.last_status.map(|status| status.to_string()),
        s.last_error,
        s.moved_url,
        s.pace.median_gap_ms,
        s.pace.newest_item_ms,
        s.ttl_ms,
        s.skip.hours,
        s.skip.days
    ])?;
    Ok(())
}

fn spec_json(feed: &FeedConfig) -> Result<String, StoreError> {
    Ok(serde_json::to_string(feed)?)
}

pub(super) fn sync_feeds(
    conn: &mut Connection,
    feeds: &[FeedConfig],
) -> Result<FeedSync, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut sync = FeedSync::default();
    for feed in feeds {
        let before: Option<(Option<String>, String)> = tx
            .prepare_cached("SELECT spec, url FROM feeds WHERE id = ?1")?
            .query_row([&feed.id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let spec = spec_json(feed)?;
        match before {
            None => {
                tx.prepare_cached(
                    "INSERT INTO feeds (id, url, spec, origin, next_due_ms) VALUES (?1, ?2, ?3, ?4, 0)",
                )?
                .execute(params![feed.id, feed.url, spec, FROM_CONFIG])?;
                sync.added += 1;
            }
            Some((old_spec, old_url)) => {
                if old_spec.as_deref() != Some(spec.as_str()) {
                    sync.updated += 1;
                }
                tx.prepare_cached("UPDATE feeds SET spec = ?2, origin = ?3 WHERE id = ?1")?
                    .execute(params![feed.id, spec, FROM_CONFIG])?;
                if old_url != feed.url {
                    // Another feed under the same id: start it afresh.
                    tx.prepare_cached(
                        "UPDATE feeds SET url = ?2, etag = NULL, last_modified = NULL, moved_url = NULL,
                            next_due_ms = 0, consecutive_failures = 0, last_status = NULL,
                            last_error = NULL, pace_gap_ms = NULL, newest_item_ms = NULL,
                            ttl_ms = NULL, skip_hours = 0, skip_days = 0
                         WHERE id = ?1",
                    )?
                    .execute(params![feed.id, feed.url])?;
                }
            }
        }
    }
    let named: HashSet<&str> = feeds.iter().map(|f| f.id.as_str()).collect();
    let configured: Vec<String> = {
        let mut stmt = tx.prepare("SELECT id FROM feeds WHERE origin = ?1")?;
        stmt.query_map([FROM_CONFIG], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?
    };
    for id in configured.iter().filter(|id| !named.contains(id.as_str())) {
        tx.prepare_cached("DELETE FROM feeds WHERE id = ?1")?
            .execute([id])?;
        sync.removed += 1;
    }
    tx.commit()?;
    Ok(sync)
}

pub(super) fn add_feeds(
    conn: &mut Connection,
    feeds: &[FeedConfig],
) -> Result<Vec<String>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut added = Vec::new();
    for feed in feeds {
        let inserted = tx
            .prepare_cached(
                "INSERT INTO feeds (id, url, spec, origin, next_due_ms) VALUES (?1, ?2, ?3, ?4, 0)
             ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![feed.id, feed.url, spec_json(feed)?, FROM_COMMAND])?;
        if inserted == 1 {
            added.push(feed.id.clone());
        }
    }
    tx.commit()?;
    Ok(added)
}

pub(super) fn remove_feed(conn: &mut Connection, feed_id: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("DELETE FROM feeds WHERE id = ?1 AND spec IS NOT NULL")?
        .execute([feed_id])?
        == 1)
}

pub(super) fn feeds(conn: &mut Connection) -> Result<Vec<FeedConfig>, StoreError> {
    let mut stmt = conn.prepare("SELECT spec FROM feeds WHERE spec IS NOT NULL ORDER BY id")?;
    let specs = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    specs
        .iter()
        .map(|spec| Ok(serde_json::from_str(spec)?))
        .collect()
}

pub(super) fn claim_due_feeds(
    conn: &mut Connection,
    claimant: &Claimant,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<FeedState>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE feeds SET lease_owner = ?1, lease_until = ?2
         WHERE id IN (SELECT id FROM feeds
                      WHERE spec IS NOT NULL AND next_due_ms <= ?3
                        AND (lease_until IS NULL OR lease_until < ?3)
                      ORDER BY next_due_ms LIMIT ?4 + 0)
         RETURNING {FEED_COLUMNS}"
    ))?;
    let states = stmt
        .query_map(
            params![
                claimant.id,
                claimant.lease_until(now_ms),
                now_ms,
                limit as i64
            ],
            feed_state_of,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(states)
}

pub(super) fn claim_feed(
    conn: &mut Connection,
    claimant: &Claimant,
    feed_id: &str,
    now_ms: i64,
) -> Result<Option<FeedState>, StoreError> {
    let state = conn
        .prepare_cached(&format!(
            "UPDATE feeds SET lease_owner = ?1, lease_until = ?2
                 WHERE id = ?3 AND spec IS NOT NULL AND (lease_until IS NULL OR lease_until < ?4)
                 RETURNING {FEED_COLUMNS}"
        ))?
        .query_row(
            params![claimant.id, claimant.lease_until(now_ms), feed_id, now_ms],
            feed_state_of,
        )
        .optional()?;
    Ok(state)
}

pub(super) fn next_due_ms(conn: &mut Connection, now_ms: i64) -> Result<Option<i64>, StoreError> {
    let due = conn
        .prepare_cached(
            "SELECT min(next_due_ms) FROM feeds
         WHERE spec IS NOT NULL AND (lease_until IS NULL OR lease_until < ?1)",
        )?
        .query_row([now_ms], |r| r.get(0))?;
    Ok(due)
}
