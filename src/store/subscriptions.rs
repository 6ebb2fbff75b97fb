//! WebSub subscriptions as the store keeps them (`src/push/` decides what
//! they become): one per feed, found by the random id in its callback path,
//! so any worker of a fleet can answer a hub's call.

use async_trait::async_trait;
use url::Url;

use super::StoreError;
use crate::push::subscription::{Mode, State, Subscription};

/// A feed's subscription, and when its hub was last asked for anything
/// (ms since epoch): renewals and retries are spaced from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub feed_id: String,
    pub subscription: Subscription,
    pub asked_ms: i64,
}

/// The subscription half of [`super::Store`].
#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Keeps `record` as its feed's subscription, replacing any other.
    async fn save_subscription(&self, record: &SubscriptionRecord) -> Result<(), StoreError>;

    /// The subscription whose callback id is `id`.
    async fn subscription(&self, id: &str) -> Result<Option<SubscriptionRecord>, StoreError>;

    /// Every subscription, by feed.
    async fn subscriptions(&self) -> Result<Vec<SubscriptionRecord>, StoreError>;

    /// Sets the state of subscription `id` (a hub verified or denied it);
    /// false when there is no such subscription any more.
    async fn set_subscription_state(&self, id: &str, state: &State) -> Result<bool, StoreError>;

    async fn delete_subscription(&self, id: &str) -> Result<(), StoreError>;

    /// Makes a feed due at `due_ms` at the latest: a subscription lapsed,
    /// and polling takes over without waiting out the long push interval.
    async fn expedite_feed(&self, feed_id: &str, due_ms: i64) -> Result<(), StoreError>;
}

/// A state as its columns: (`state`, `lease_until_ms`, `reason`).
pub(crate) fn state_columns(state: &State) -> (&'static str, Option<i64>, Option<&str>) {
    match state {
        State::Pending(Mode::Subscribe) => ("subscribing", None, None),
        State::Pending(Mode::Unsubscribe) => ("unsubscribing", None, None),
        State::Active { lease_until_ms } => ("active", Some(*lease_until_ms), None),
        State::Denied { reason } => ("denied", None, reason.as_deref()),
        State::Ended => ("ended", None, None),
    }
}

/// The columns of one row, as read back.
pub(crate) struct SubscriptionRow {
    pub feed_id: String,
    pub id: String,
    pub hub: String,
    pub topic: String,
    pub secret: String,
    pub state: String,
    pub lease_until_ms: Option<i64>,
    pub reason: Option<String>,
    pub asked_ms: i64,
}

impl SubscriptionRow {
    pub(crate) fn into_record(self) -> Result<SubscriptionRecord, StoreError> {
        let url = |text: &str| {
            Url::parse(text)
                .map_err(|e| StoreError::Invalid(format!("subscription URL {text}: {e}")))
        };
        let state = match (self.state.as_str(), self.lease_until_ms) {
            ("subscribing", _) => State::Pending(Mode::Subscribe),
            ("unsubscribing", _) => State::Pending(Mode::Unsubscribe),
            ("active", Some(lease_until_ms)) => State::Active { lease_until_ms },
            ("denied", _) => State::Denied {
                reason: self.reason,
            },
            ("ended", _) => State::Ended,
            (other, _) => {
                return Err(StoreError::Invalid(format!("subscription state {other:?}")));
            }
        };
        Ok(SubscriptionRecord {
            feed_id: self.feed_id,
            subscription: Subscription {
                id: self.id,
                hub: url(&self.hub)?,
                topic: url(&self.topic)?,
                secret: self.secret,
                state,
            },
            asked_ms: self.asked_ms,
        })
    }
}
