//! Claims on unfinished stories: taken, let go, counted.

use rusqlite::{Connection, params};

use super::now_ms;
use super::stories::{PENDING_COLUMNS, TASK_COLUMNS, work_of};
use crate::store::{Claimant, StoreError, StoryWork};

pub(super) fn release(
    conn: &mut Connection,
    story_id: &str,
    until_ms: i64,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE stories SET lease_owner = NULL, lease_until = ?2, changed_ms = ?3
         WHERE id = ?1 AND state != 'published'",
    )?
    .execute(params![story_id, until_ms, now_ms()])?;
    Ok(())
}

pub(super) fn claim_unfinished(
    conn: &mut Connection,
    claimant: &Claimant,
    now_ms: i64,
    limit: usize,
    waiting_too: bool,
) -> Result<Vec<StoryWork>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE stories SET lease_owner = ?1, lease_until = ?2
         WHERE id IN (SELECT id FROM stories
                      WHERE state != 'published'
                        AND (lease_until IS NULL OR lease_until < ?3
                             OR (?5 AND lease_owner IS NULL))
                      ORDER BY changed_ms, id LIMIT ?4 + 0)
         RETURNING {TASK_COLUMNS}, state, {PENDING_COLUMNS}, changed_ms"
    ))?;
    let mut rows = stmt.query(params![
        claimant.id,
        claimant.lease_until(now_ms),
        now_ms,
        limit as i64,
        waiting_too
    ])?;
    let mut claimed = Vec::new();
    while let Some(row) = rows.next()? {
        claimed.push((row.get::<_, i64>(14)?, work_of(row)?));
    }
    // RETURNING keeps no order: oldest first, as the subquery chose them.
    claimed.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1.story_id().cmp(b.1.story_id()))
    });
    Ok(claimed.into_iter().map(|(_, work)| work).collect())
}

pub(super) fn unfinished_unclaimed(conn: &mut Connection, now_ms: i64) -> Result<u64, StoreError> {
    let count = conn
        .prepare_cached(
            "SELECT count(*) FROM stories
         WHERE state != 'published' AND (lease_owner IS NULL OR lease_until < ?1)",
        )?
        .query_row([now_ms], |r| r.get(0))?;
    Ok(count)
}
