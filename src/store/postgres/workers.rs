//! Live workers and their heartbeats, which keep their claims alive.

use super::PostgresStore;
use super::wire::{BEGIN, COMMIT, Step};
use crate::store::{Claimant, StoreError, WorkerRecord};

const UPSERT_WORKER: &str = "INSERT INTO workers (id, host, pid, started_ms, heartbeat_ms)
     VALUES ($1, $2, $3, $4, $4)
     ON CONFLICT (id) DO UPDATE SET heartbeat_ms = $4";

pub(super) async fn register(
    store: &PostgresStore,
    claimant: &Claimant,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [upsert] = s
        .prepare([
            "INSERT INTO workers (id, host, pid, started_ms, heartbeat_ms) VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (id) DO UPDATE SET started_ms = $4, heartbeat_ms = $4",
        ])
        .await?;
    let pid = i64::from(claimant.pid);
    s.query(&upsert, vec![&claimant.id, &claimant.host, &pid, &now_ms])
        .await?;
    Ok(())
}

/// Renews the worker and exactly the claims it names that it still holds:
/// one it lost to another worker (its lease lapsed) stays the other's.
pub(super) async fn heartbeat(
    store: &PostgresStore,
    claimant: &Claimant,
    now_ms: i64,
    feeds: &[String],
    stories: &[String],
) -> Result<u64, StoreError> {
    let mut s = store.session().await?;
    let [upsert, renew_feeds, renew_stories, live] = s
        .prepare([
            UPSERT_WORKER,
            "UPDATE feeds SET lease_until = $3 WHERE id = ANY($1) AND lease_owner = $2",
            "UPDATE stories SET lease_until = $3
             WHERE id = ANY($1) AND lease_owner = $2 AND state <> 'published'",
            "SELECT count(*) AS n FROM workers WHERE heartbeat_ms >= $1",
        ])
        .await?;
    let pid = i64::from(claimant.pid);
    let until = claimant.lease_until(now_ms);
    let heard_since = now_ms - claimant.lease.as_millis() as i64;
    // Sorted: two heartbeats lock rows in one order.
    let (mut feeds, mut stories) = (feeds.to_vec(), stories.to_vec());
    feeds.sort_unstable();
    stories.sort_unstable();
    let answers = s
        .exchange(vec![
            BEGIN,
            Step::Query(&upsert, vec![&claimant.id, &claimant.host, &pid, &now_ms]),
            Step::Query(&renew_feeds, vec![&feeds, &claimant.id, &until]),
            Step::Query(&renew_stories, vec![&stories, &claimant.id, &until]),
            Step::Query(&live, vec![&heard_since]),
            COMMIT,
        ])
        .await?;
    let live = match answers[4].first() {
        Some(row) => row.try_get::<_, i64>("n")?,
        None => 0,
    };
    Ok((live.max(1)) as u64)
}

pub(super) async fn workers(store: &PostgresStore) -> Result<Vec<WorkerRecord>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare(["SELECT id, host, pid, started_ms, heartbeat_ms FROM workers ORDER BY id"])
        .await?;
    s.query(&select, vec![])
        .await?
        .iter()
        .map(|r| {
            let pid: i64 = r.try_get("pid")?;
            Ok(WorkerRecord {
                id: r.try_get("id")?,
                host: r.try_get("host")?,
                pid: u32::try_from(pid).map_err(|_| StoreError::Invalid(format!("pid = {pid}")))?,
                started_ms: r.try_get("started_ms")?,
                heartbeat_ms: r.try_get("heartbeat_ms")?,
            })
        })
        .collect()
}

pub(super) async fn sign_off(store: &PostgresStore, worker_id: &str) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [feeds, stories, forget] = s
        .prepare([
            "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            "UPDATE stories SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            "DELETE FROM workers WHERE id = $1",
        ])
        .await?;
    s.exchange(vec![
        BEGIN,
        Step::Query(&feeds, vec![&worker_id]),
        Step::Query(&stories, vec![&worker_id]),
        Step::Query(&forget, vec![&worker_id]),
        COMMIT,
    ])
    .await?;
    Ok(())
}
