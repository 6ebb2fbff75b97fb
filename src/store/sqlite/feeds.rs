//! Each feed's poll state, for the scheduler.

use rusqlite::{Connection, OptionalExtension, params};

use crate::schedule::{LastStatus, Pace, SkipSchedule};
use crate::store::{FeedState, StoreError};

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
        .query_row(
            &format!("SELECT {FEED_COLUMNS} FROM feeds WHERE id = ?1"),
            [feed_id],
            feed_state_of,
        )
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

pub(super) fn save_feed_state(conn: &mut Connection, s: &FeedState) -> Result<(), StoreError> {
    conn.execute(
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
            s.last_status.map(|status| status.to_string()),
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
