//! The feed list and each feed's poll state, claimed by one worker at a
//! time.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Row;

use super::PostgresStore;
use super::wire::{BEGIN, COMMIT, Param, Step, u32_at};
use crate::config::FeedConfig;
use crate::schedule::{LastStatus, Pace, SkipSchedule};
use crate::store::{Claimant, FeedState, FeedSync, StoreError};

/// Where a feed came from: the config (synchronised at every start) or
/// `feeds add` (kept until `feeds remove`).
const FROM_CONFIG: &str = "config";
const FROM_COMMAND: &str = "command";

const FEED_COLUMNS: &str = "id, url, title, etag, last_modified, next_due_ms, consecutive_failures, last_polled_ms, last_status, last_error, moved_url, pace_gap_ms, newest_item_ms, ttl_ms, skip_hours, skip_days";

fn feed_state_of(r: &Row) -> Result<FeedState, StoreError> {
    let last_status = r
        .try_get::<_, Option<String>>("last_status")?
        .map(|text| {
            LastStatus::parse(&text)
                .ok_or_else(|| StoreError::Invalid(format!("last_status `{text}`")))
        })
        .transpose()?;
    let skip_days: i64 = r.try_get("skip_days")?;
    Ok(FeedState {
        feed_id: r.try_get("id")?,
        url: r.try_get("url")?,
        title: r.try_get("title")?,
        etag: r.try_get("etag")?,
        last_modified: r.try_get("last_modified")?,
        next_due_ms: r.try_get("next_due_ms")?,
        consecutive_failures: u32_at(r, "consecutive_failures")?,
        last_polled_ms: r.try_get("last_polled_ms")?,
        last_status,
        last_error: r.try_get("last_error")?,
        moved_url: r.try_get("moved_url")?,
        pace: Pace {
            median_gap_ms: r.try_get("pace_gap_ms")?,
            newest_item_ms: r.try_get("newest_item_ms")?,
        },
        ttl_ms: r.try_get("ttl_ms")?,
        skip: SkipSchedule {
            hours: u32_at(r, "skip_hours")?,
            days: u8::try_from(skip_days)
                .map_err(|_| StoreError::Invalid(format!("skip_days = {skip_days}")))?,
        },
    })
}

fn states_of(rows: &[Row]) -> Result<Vec<FeedState>, StoreError> {
    rows.iter().map(feed_state_of).collect()
}

pub(super) async fn feed_state(
    store: &PostgresStore,
    feed_id: &str,
) -> Result<Option<FeedState>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare([&format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = $1")])
        .await?;
    let rows = s.query(&select, vec![&feed_id]).await?;
    rows.first().map(feed_state_of).transpose()
}

pub(super) async fn feed_states(store: &PostgresStore) -> Result<Vec<FeedState>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare([&format!("SELECT {FEED_COLUMNS} FROM feeds ORDER BY id")])
        .await?;
    states_of(&s.query(&select, vec![]).await?)
}

/// Saves the states in one transaction sent as one round trip (`BEGIN`,
/// an upsert per feed, `COMMIT`), the feeds in id order so that two
/// workers' batches never wait on each other's rows in a cycle.
pub(super) async fn save_feed_states(
    store: &PostgresStore,
    states: &[FeedState],
) -> Result<(), StoreError> {
    if states.is_empty() {
        return Ok(());
    }
    let mut s = store.session().await?;
    let [upsert] = s
        .prepare([
            "INSERT INTO feeds (id, url, title, etag, last_modified, next_due_ms,
                consecutive_failures, last_polled_ms, last_status, last_error, moved_url,
                pace_gap_ms, newest_item_ms, ttl_ms, skip_hours, skip_days)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
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
        ])
        .await?;
    let mut ordered: Vec<&FeedState> = states.iter().collect();
    ordered.sort_by(|a, b| a.feed_id.cmp(&b.feed_id));
    // The columns kept in other types than the database's, converted first
    // so the parameters can borrow them.
    let converted: Vec<(i64, Option<String>, i64, i64)> = ordered
        .iter()
        .map(|st| {
            (
                i64::from(st.consecutive_failures),
                st.last_status.map(|status| status.to_string()),
                i64::from(st.skip.hours),
                i64::from(st.skip.days),
            )
        })
        .collect();
    let mut steps = Vec::with_capacity(ordered.len() + 2);
    steps.push(BEGIN);
    for (st, (failures, status, hours, days)) in ordered.iter().zip(&converted) {
        let params: Vec<Param<'_>> = vec![
            &st.feed_id,
            &st.url,
            &st.title,
            &st.etag,
            &st.last_modified,
            &st.next_due_ms,
            failures,
            &st.last_polled_ms,
            status,
            &st.last_error,
            &st.moved_url,
            &st.pace.median_gap_ms,
            &st.pace.newest_item_ms,
            &st.ttl_ms,
            hours,
            days,
        ];
        steps.push(Step::Query(&upsert, params));
    }
    steps.push(COMMIT);
    s.exchange(steps).await?;
    Ok(())
}

fn spec_json(feed: &FeedConfig) -> Result<String, StoreError> {
    Ok(serde_json::to_string(feed)?)
}

/// Taken by `sync_feeds`, so workers starting together count what they
/// changed one after the other.
const SYNC_LOCK: &str =
    "SELECT pg_advisory_xact_lock(hashtext('feedwire.feeds'), hashtext(current_schema()))";

pub(super) async fn sync_feeds(
    store: &PostgresStore,
    feeds: &[FeedConfig],
) -> Result<FeedSync, StoreError> {
    let mut s = store.session().await?;
    let [read, insert, update, reset, delete] = s
        .prepare([
            "SELECT id, spec, url, origin FROM feeds WHERE id = ANY($1) OR origin = $2",
            "INSERT INTO feeds (id, url, spec, origin, next_due_ms)
             SELECT u.id, u.url, u.spec, $4, 0 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, url, spec)",
            "UPDATE feeds f SET spec = u.spec, origin = $3
             FROM unnest($1::text[], $2::text[]) AS u(id, spec) WHERE f.id = u.id",
            // Another feed under the same id: start it afresh.
            "UPDATE feeds f SET url = u.url, etag = NULL, last_modified = NULL, moved_url = NULL,
                next_due_ms = 0, consecutive_failures = 0, last_status = NULL,
                last_error = NULL, pace_gap_ms = NULL, newest_item_ms = NULL,
                ttl_ms = NULL, skip_hours = 0, skip_days = 0
             FROM unnest($1::text[], $2::text[]) AS u(id, url) WHERE f.id = u.id",
            "DELETE FROM feeds WHERE id = ANY($1)",
        ])
        .await?;
    let ids: Vec<&str> = feeds.iter().map(|f| f.id.as_str()).collect();
    let rows = s
        .exchange(vec![
            BEGIN,
            Step::Text(SYNC_LOCK),
            Step::Query(&read, vec![&ids, &FROM_CONFIG]),
        ])
        .await?
        .pop()
        .unwrap_or_default();
    // id → (spec, url) as stored; `feeds` is applied in order over it.
    let mut stored: HashMap<String, (Option<String>, String)> = HashMap::new();
    for row in &rows {
        stored.insert(
            row.try_get("id")?,
            (row.try_get("spec")?, row.try_get("url")?),
        );
    }
    let before = stored.clone();
    let mut sync = FeedSync::default();
    for feed in feeds {
        let spec = spec_json(feed)?;
        match stored.get_mut(&feed.id) {
            None => {
                sync.added += 1;
                stored.insert(feed.id.clone(), (Some(spec), feed.url.clone()));
            }
            Some((old_spec, url)) => {
                if old_spec.as_deref() != Some(spec.as_str()) {
                    sync.updated += 1;
                }
                *old_spec = Some(spec);
                *url = feed.url.clone();
            }
        }
    }
    let named: HashSet<&str> = ids.iter().copied().collect();
    let mut new = (Vec::new(), Vec::new(), Vec::new());
    let mut respec = (Vec::new(), Vec::new());
    let mut moved = (Vec::new(), Vec::new());
    for id in named.iter().copied() {
        let (spec, url) = &stored[id];
        match before.get(id) {
            None => {
                new.0.push(id);
                new.1.push(url.as_str());
                new.2.push(spec.as_deref());
            }
            Some((_, old_url)) => {
                respec.0.push(id);
                respec.1.push(spec.as_deref());
                if old_url != url {
                    moved.0.push(id);
                    moved.1.push(url.as_str());
                }
            }
        }
    }
    let origin: Option<&str> = Some(FROM_CONFIG);
    // Feeds that came from the config and are no longer in it.
    let removed: Vec<&str> = rows
        .iter()
        .filter(|r| r.get::<_, Option<&str>>("origin") == Some(FROM_CONFIG))
        .map(|r| r.get::<_, &str>("id"))
        .filter(|id| !named.contains(id))
        .collect();
    sync.removed = removed.len() as u64;
    let mut steps = Vec::new();
    if !new.0.is_empty() {
        steps.push(Step::Query(&insert, vec![&new.0, &new.1, &new.2, &origin]));
    }
    if !respec.0.is_empty() {
        steps.push(Step::Query(&update, vec![&respec.0, &respec.1, &origin]));
    }
    if !moved.0.is_empty() {
        steps.push(Step::Query(&reset, vec![&moved.0, &moved.1]));
    }
    if !removed.is_empty() {
        steps.push(Step::Query(&delete, vec![&removed]));
    }
    steps.push(COMMIT);
    s.exchange(steps).await?;
    Ok(sync)
}

pub(super) async fn add_feeds(
    store: &PostgresStore,
    feeds: &[FeedConfig],
) -> Result<Vec<String>, StoreError> {
    let mut s = store.session().await?;
    let [insert] = s
        .prepare([
            "INSERT INTO feeds (id, url, spec, origin, next_due_ms)
             SELECT u.id, u.url, u.spec, $4, 0 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, url, spec)
             ON CONFLICT (id) DO NOTHING
             RETURNING id",
        ])
        .await?;
    let ids: Vec<&str> = feeds.iter().map(|f| f.id.as_str()).collect();
    let urls: Vec<&str> = feeds.iter().map(|f| f.url.as_str()).collect();
    let specs = feeds.iter().map(spec_json).collect::<Result<Vec<_>, _>>()?;
    let rows = s
        .query(&insert, vec![&ids, &urls, &specs, &FROM_COMMAND])
        .await?;
    let inserted: HashSet<String> = rows.iter().map(|r| r.get("id")).collect();
    // In the order given, each once (a second entry of an id is not added).
    let mut seen = HashSet::new();
    Ok(ids
        .into_iter()
        .filter(|id| inserted.contains(*id) && seen.insert(*id))
        .map(str::to_string)
        .collect())
}

pub(super) async fn remove_feed(store: &PostgresStore, feed_id: &str) -> Result<bool, StoreError> {
    let mut s = store.session().await?;
    let [delete] = s
        .prepare(["DELETE FROM feeds WHERE id = $1 AND spec IS NOT NULL RETURNING id"])
        .await?;
    Ok(!s.query(&delete, vec![&feed_id]).await?.is_empty())
}

pub(super) async fn feeds(store: &PostgresStore) -> Result<Vec<FeedConfig>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare(["SELECT spec FROM feeds WHERE spec IS NOT NULL ORDER BY id"])
        .await?;
    s.query(&select, vec![])
        .await?
        .iter()
        .map(|row| Ok(serde_json::from_str(row.try_get::<_, &str>("spec")?)?))
        .collect()
}

pub(super) async fn claim_due_feeds(
    store: &PostgresStore,
    claimant: &Claimant,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<FeedState>, StoreError> {
    let mut s = store.session().await?;
    // SKIP LOCKED: rows another worker is claiming right now are passed
    // over, not waited for; one it claimed a moment ago is re-checked
    // against its new lease and left out.
    let [claim] = s
        .prepare([&format!(
            "UPDATE feeds SET lease_owner = $1, lease_until = $2
             WHERE id IN (SELECT id FROM feeds
                          WHERE spec IS NOT NULL AND next_due_ms <= $3
                            AND (lease_until IS NULL OR lease_until < $3)
                          ORDER BY next_due_ms LIMIT $4
                          FOR UPDATE SKIP LOCKED)
             RETURNING {FEED_COLUMNS}"
        )])
        .await?;
    let until = claimant.lease_until(now_ms);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = s
        .query(&claim, vec![&claimant.id, &until, &now_ms, &limit])
        .await?;
    let mut states = states_of(&rows)?;
    // RETURNING keeps no order: soonest first, as the subquery chose them.
    states.sort_by(|a, b| (a.next_due_ms, &a.feed_id).cmp(&(b.next_due_ms, &b.feed_id)));
    Ok(states)
}

pub(super) async fn claim_feed(
    store: &PostgresStore,
    claimant: &Claimant,
    feed_id: &str,
    now_ms: i64,
) -> Result<Option<FeedState>, StoreError> {
    let mut s = store.session().await?;
    let [claim] = s
        .prepare([&format!(
            "UPDATE feeds SET lease_owner = $1, lease_until = $2
             WHERE id = $3 AND spec IS NOT NULL AND (lease_until IS NULL OR lease_until < $4)
             RETURNING {FEED_COLUMNS}"
        )])
        .await?;
    let until = claimant.lease_until(now_ms);
    let rows = s
        .query(&claim, vec![&claimant.id, &until, &feed_id, &now_ms])
        .await?;
    rows.first().map(feed_state_of).transpose()
}

pub(super) async fn next_due_ms(
    store: &PostgresStore,
    now_ms: i64,
) -> Result<Option<i64>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare(["SELECT min(next_due_ms) AS due FROM feeds
             WHERE spec IS NOT NULL AND (lease_until IS NULL OR lease_until < $1)"])
        .await?;
    let rows = s.query(&select, vec![&now_ms]).await?;
    Ok(rows
        .first()
        .map(|r| r.try_get("due"))
        .transpose()?
        .flatten())
}
