//! WebSub subscriptions in the SQLite store.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use crate::push::subscription::State;
use crate::store::subscriptions::{SubscriptionRow, state_columns};
use crate::store::{StoreError, SubscriptionRecord, SubscriptionStore};

const COLUMNS: &str = "feed_id, id, hub, topic, secret, state, lease_until_ms, reason, asked_ms";

fn row(r: &Row<'_>) -> rusqlite::Result<SubscriptionRow> {
    Ok(SubscriptionRow {
        feed_id: r.get(0)?,
        id: r.get(1)?,
        hub: r.get(2)?,
        topic: r.get(3)?,
        secret: r.get(4)?,
        state: r.get(5)?,
        lease_until_ms: r.get(6)?,
        reason: r.get(7)?,
        asked_ms: r.get(8)?,
    })
}

fn save(conn: &mut Connection, record: &SubscriptionRecord) -> Result<(), StoreError> {
    let sub = &record.subscription;
    let (state, lease_until, reason) = state_columns(&sub.state);
    conn.prepare_cached(&format!(
        "INSERT INTO subscriptions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (feed_id) DO UPDATE SET id = excluded.id, hub = excluded.hub,
            topic = excluded.topic, secret = excluded.secret, state = excluded.state,
            lease_until_ms = excluded.lease_until_ms, reason = excluded.reason,
            asked_ms = excluded.asked_ms"
    ))?
    .execute(params![
        record.feed_id,
        sub.id,
        sub.hub.as_str(),
        sub.topic.as_str(),
        sub.secret,
        state,
        lease_until,
        reason,
        record.asked_ms
    ])?;
    Ok(())
}

fn find(conn: &mut Connection, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE id = ?1"
    ))?
    .query_row([id], row)
    .optional()?
    .map(SubscriptionRow::into_record)
    .transpose()
}

fn all(conn: &mut Connection) -> Result<Vec<SubscriptionRecord>, StoreError> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM subscriptions ORDER BY feed_id"
    ))?;
    let rows = statement.query_map([], row)?;
    rows.map(|r| {
        r.map_err(StoreError::from)
            .and_then(SubscriptionRow::into_record)
    })
    .collect()
}

fn set_state(conn: &mut Connection, id: &str, state: &State) -> Result<bool, StoreError> {
    let (state, lease_until, reason) = state_columns(state);
    let changed = conn
        .prepare_cached(
            "UPDATE subscriptions SET state = ?2, lease_until_ms = ?3, reason = ?4 WHERE id = ?1",
        )?
        .execute(params![id, state, lease_until, reason])?;
    Ok(changed > 0)
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn save_subscription(&self, record: &SubscriptionRecord) -> Result<(), StoreError> {
        let record = record.clone();
        self.call(move |c| save(c, &record)).await
    }

    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        let id = id.to_string();
        self.call(move |c| find(c, &id)).await
    }

    async fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.call(all).await
    }

    async fn set_subscription_state(&self, id: &str, state: &State) -> Result<bool, StoreError> {
        let (id, state) = (id.to_string(), state.clone());
        self.call(move |c| set_state(c, &id, &state)).await
    }

    async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_string();
        self.call(move |c| {
            c.prepare_cached("DELETE FROM subscriptions WHERE id = ?1")?
                .execute([id])?;
            Ok(())
        })
        .await
    }

    async fn expedite_feed(&self, feed_id: &str, due_ms: i64) -> Result<(), StoreError> {
        let feed_id = feed_id.to_string();
        self.call(move |c| {
            c.prepare_cached("UPDATE feeds SET next_due_ms = min(next_due_ms, ?2) WHERE id = ?1")?
                .execute(params![feed_id, due_ms])?;
            Ok(())
        })
        .await
    }
}
