//! WebSub subscriptions in the PostgreSQL store: any worker of a fleet
//! answers a hub's call, whichever worker subscribed.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PostgresStore;
use super::wire::retrying;
use crate::push::subscription::State;
use crate::store::subscriptions::{SubscriptionRow, state_columns};
use crate::store::{StoreError, SubscriptionRecord, SubscriptionStore};

const SELECT: &str =
    "SELECT feed_id, id, hub, topic, secret, state, lease_until_ms, reason, asked_ms
     FROM subscriptions";

fn record(r: &Row) -> Result<SubscriptionRecord, StoreError> {
    SubscriptionRow {
        feed_id: r.try_get(0)?,
        id: r.try_get(1)?,
        hub: r.try_get(2)?,
        topic: r.try_get(3)?,
        secret: r.try_get(4)?,
        state: r.try_get(5)?,
        lease_until_ms: r.try_get(6)?,
        reason: r.try_get(7)?,
        asked_ms: r.try_get(8)?,
    }
    .into_record()
}

async fn save(store: &PostgresStore, record: &SubscriptionRecord) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [upsert] = s
        .prepare(["INSERT INTO subscriptions
                (feed_id, id, hub, topic, secret, state, lease_until_ms, reason, asked_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (feed_id) DO UPDATE SET id = excluded.id, hub = excluded.hub,
                topic = excluded.topic, secret = excluded.secret, state = excluded.state,
                lease_until_ms = excluded.lease_until_ms, reason = excluded.reason,
                asked_ms = excluded.asked_ms"])
        .await?;
    let sub = &record.subscription;
    let (state, lease_until, reason) = state_columns(&sub.state);
    let (hub, topic) = (sub.hub.as_str(), sub.topic.as_str());
    s.query(
        &upsert,
        vec![
            &record.feed_id,
            &sub.id,
            &hub,
            &topic,
            &sub.secret,
            &state,
            &lease_until,
            &reason,
            &record.asked_ms,
        ],
    )
    .await?;
    Ok(())
}

async fn find(store: &PostgresStore, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare([&format!("{SELECT} WHERE id = $1") as &str])
        .await?;
    let rows = s.query(&select, vec![&id]).await?;
    rows.first().map(record).transpose()
}

async fn all(store: &PostgresStore) -> Result<Vec<SubscriptionRecord>, StoreError> {
    let mut s = store.session().await?;
    let [select] = s
        .prepare([&format!("{SELECT} ORDER BY feed_id") as &str])
        .await?;
    s.query(&select, vec![]).await?.iter().map(record).collect()
}

async fn set_state(store: &PostgresStore, id: &str, state: &State) -> Result<bool, StoreError> {
    let mut s = store.session().await?;
    let [update] = s
        .prepare([
            "UPDATE subscriptions SET state = $2, lease_until_ms = $3, reason = $4
             WHERE id = $1 RETURNING 1",
        ])
        .await?;
    let (state, lease_until, reason) = state_columns(state);
    let rows = s
        .query(&update, vec![&id, &state, &lease_until, &reason])
        .await?;
    Ok(!rows.is_empty())
}

async fn delete(store: &PostgresStore, id: &str) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [delete] = s
        .prepare(["DELETE FROM subscriptions WHERE id = $1"])
        .await?;
    s.query(&delete, vec![&id]).await?;
    Ok(())
}

async fn expedite(store: &PostgresStore, feed_id: &str, due_ms: i64) -> Result<(), StoreError> {
    let mut s = store.session().await?;
    let [update] = s
        .prepare(["UPDATE feeds SET next_due_ms = least(next_due_ms, $2) WHERE id = $1"])
        .await?;
    s.query(&update, vec![&feed_id, &due_ms]).await?;
    Ok(())
}

#[async_trait]
impl SubscriptionStore for PostgresStore {
    async fn save_subscription(&self, record: &SubscriptionRecord) -> Result<(), StoreError> {
        retrying(|| save(self, record)).await
    }

    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        retrying(|| find(self, id)).await
    }

    async fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError> {
        retrying(|| all(self)).await
    }

    async fn set_subscription_state(&self, id: &str, state: &State) -> Result<bool, StoreError> {
        retrying(|| set_state(self, id, state)).await
    }

    async fn delete_subscription(&self, id: &str) -> Result<(), StoreError> {
        retrying(|| delete(self, id)).await
    }

    async fn expedite_feed(&self, feed_id: &str, due_ms: i64) -> Result<(), StoreError> {
        retrying(|| expedite(self, feed_id, due_ms)).await
    }
}
