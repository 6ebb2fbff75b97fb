//! Live workers and their heartbeats, which keep their claims alive.

use rusqlite::{Connection, TransactionBehavior, params};

use crate::store::{Claimant, StoreError, WorkerRecord};

pub(super) fn register(
    conn: &mut Connection,
    claimant: &Claimant,
    now_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO workers (id, host, pid, started_ms, heartbeat_ms) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (id) DO UPDATE SET started_ms = ?4, heartbeat_ms = ?4",
    )?
    .execute(params![claimant.id, claimant.host, claimant.pid, now_ms])?;
    Ok(())
}

pub(super) fn heartbeat(
    conn: &mut Connection,
    claimant: &Claimant,
    now_ms: i64,
    feeds: &[String],
    stories: &[String],
) -> Result<u64, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let until = claimant.lease_until(now_ms);
    tx.prepare_cached(
        "INSERT INTO workers (id, host, pid, started_ms, heartbeat_ms) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (id) DO UPDATE SET heartbeat_ms = ?4",
    )?
    .execute(params![claimant.id, claimant.host, claimant.pid, now_ms])?;
    {
        let mut feed = tx.prepare_cached(
            "UPDATE feeds SET lease_until = ?3 WHERE id = ?1 AND lease_owner = ?2",
        )?;
        for id in feeds {
            feed.execute(params![id, claimant.id, until])?;
        }
        let mut story = tx.prepare_cached(
            "UPDATE stories SET lease_until = ?3
             WHERE id = ?1 AND lease_owner = ?2 AND state != 'published'",
        )?;
        for id in stories {
            story.execute(params![id, claimant.id, until])?;
        }
    }
    let live: u64 = tx
        .prepare_cached("SELECT count(*) FROM workers WHERE heartbeat_ms >= ?1")?
        .query_row([now_ms - claimant.lease.as_millis() as i64], |r| r.get(0))?;
    tx.commit()?;
    Ok(live.max(1))
}

pub(super) fn workers(conn: &mut Connection) -> Result<Vec<WorkerRecord>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT id, host, pid, started_ms, heartbeat_ms FROM workers ORDER BY id")?;
    let workers = stmt
        .query_map([], |r| {
            Ok(WorkerRecord {
                id: r.get(0)?,
                host: r.get(1)?,
                pid: r.get(2)?,
                started_ms: r.get(3)?,
                heartbeat_ms: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(workers)
}

pub(super) fn sign_off(conn: &mut Connection, worker_id: &str) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached(
        "UPDATE feeds SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?1",
    )?
    .execute([worker_id])?;
    tx.prepare_cached(
        "UPDATE stories SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?1",
    )?
    .execute([worker_id])?;
    tx.prepare_cached("DELETE FROM workers WHERE id = ?1")?
        .execute([worker_id])?;
    tx.commit()?;
    Ok(())
}
