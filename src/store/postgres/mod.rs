//! The shared store: PostgreSQL, for a fleet of workers.
//!
//! Same semantics as the SQLite store, call for call. What changes is who
//! else writes at the same moment, and how each call stays right:
//!
//! - feeds and stories are claimed with `FOR UPDATE SKIP LOCKED` and the
//!   lease set in the same statement (feeds.rs, stories.rs);
//! - a poll's items are recorded in one REPEATABLE READ transaction whose
//!   writes fail on any key or story another worker wrote since it read
//!   them; it is then run again and finds their work (record.rs);
//! - a confirm archives the message and marks the story in one
//!   transaction; readers of the archive never see a seq while a smaller
//!   one is still to come, without confirms waiting for each other
//!   (archive.rs).
//!
//! Round trips: the statements of a call are sent together (wire.rs), so a
//! call costs one round trip, and `record_items` two when a poll brings
//! something new (one when it does not). [`PostgresStore::round_trips`]
//! counts them.
//!
//! Time: leases compare the `now_ms` the caller passes with what other
//! workers wrote, and the store stamps rows with this host's clock, as the
//! SQLite store does; a fleet needs its clocks in step (NTP) to within a
//! small part of the lease.

mod archive;
#[cfg(test)]
mod differential_tests;
mod feeds;
mod near;
mod record;
mod schema;
mod stories;
mod subscriptions;
#[cfg(test)]
pub(crate) mod tests;
mod tls;
mod wire;
mod workers;

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};

use super::{
    ArchivedMessage, Claimant, DiscoveredItem, FeedState, FeedSync, NearMatch, PendingMessage,
    PrintLookup, Store, StoreError, StoreStats, StoryRecord, StoryTask, StoryWork, WorkerRecord,
};
use crate::config::FeedConfig;
use crate::dedup::{StoryIdentity, TextPrint};
use wire::{Session, retrying};

/// Not measured yet.
const UNKNOWN_SIZE: u64 = u64::MAX;

pub struct PostgresStore {
    pool: Pool,
    round_trips: AtomicU64,
    /// Bytes the store's tables take, as last measured (see
    /// [`Store::size_bytes`]).
    size: AtomicU64,
}

impl PostgresStore {
    /// Connects to the database at `url` (see tls.rs for `sslmode`) with
    /// up to `pool_size` connections, and brings its schema up to date.
    /// The tables live in the connection's current schema (`public`, or
    /// `options=-c search_path=...` in the URL).
    pub async fn connect(url: &str, pool_size: usize) -> Result<PostgresStore, StoreError> {
        let (config, tls, _) = tls::target(url)?;
        // Fast: a connection the server closed is seen as closed and
        // replaced; nothing is sent to check the others, which would cost
        // a round trip on every call.
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Config(format!("connection pool: {e}")))?;
        let store = PostgresStore {
            pool,
            round_trips: AtomicU64::new(0),
            size: AtomicU64::new(UNKNOWN_SIZE),
        };
        schema::migrate(&store).await?;
        archive::refresh_size(&store).await?;
        Ok(store)
    }

    /// Round trips to the server so far (statements sent together count
    /// once; connecting does not count).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    async fn session(&self) -> Result<Session<'_>, StoreError> {
        Ok(Session::new(self.pool.get().await?, &self.round_trips))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn sync_feeds(&self, feeds: &[FeedConfig]) -> Result<FeedSync, StoreError> {
        retrying(|| feeds::sync_feeds(self, feeds)).await
    }

    async fn add_feeds(&self, feeds: &[FeedConfig]) -> Result<Vec<String>, StoreError> {
        retrying(|| feeds::add_feeds(self, feeds)).await
    }

    async fn remove_feed(&self, feed_id: &str) -> Result<bool, StoreError> {
        retrying(|| feeds::remove_feed(self, feed_id)).await
    }

    async fn feeds(&self) -> Result<Vec<FeedConfig>, StoreError> {
        retrying(|| feeds::feeds(self)).await
    }

    async fn feed_state(&self, feed_id: &str) -> Result<Option<FeedState>, StoreError> {
        retrying(|| feeds::feed_state(self, feed_id)).await
    }

    async fn save_feed_states(&self, states: &[FeedState]) -> Result<(), StoreError> {
        retrying(|| feeds::save_feed_states(self, states)).await
    }

    async fn claim_due_feeds(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<FeedState>, StoreError> {
        retrying(|| feeds::claim_due_feeds(self, claimant, now_ms, limit)).await
    }

    async fn claim_feed(
        &self,
        claimant: &Claimant,
        feed_id: &str,
        now_ms: i64,
    ) -> Result<Option<FeedState>, StoreError> {
        retrying(|| feeds::claim_feed(self, claimant, feed_id, now_ms)).await
    }

    async fn next_due_ms(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        retrying(|| feeds::next_due_ms(self, now_ms)).await
    }

    async fn record_items(
        &self,
        claimant: &Claimant,
        feed_id: &str,
        items: &[DiscoveredItem],
        ambiguous: &[String],
    ) -> Result<Vec<StoryTask>, StoreError> {
        retrying(|| record::record_items(self, claimant, feed_id, items, ambiguous)).await
    }

    async fn claim_unfinished(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        limit: usize,
        waiting_too: bool,
    ) -> Result<Vec<StoryWork>, StoreError> {
        retrying(|| stories::claim_unfinished(self, claimant, now_ms, limit, waiting_too)).await
    }

    async fn release(&self, story_id: &str, until_ms: i64) -> Result<(), StoreError> {
        retrying(|| stories::release(self, story_id, until_ms)).await
    }

    async fn register(&self, claimant: &Claimant, now_ms: i64) -> Result<(), StoreError> {
        retrying(|| workers::register(self, claimant, now_ms)).await
    }

    async fn heartbeat(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        feeds: &[String],
        stories: &[String],
    ) -> Result<u64, StoreError> {
        retrying(|| workers::heartbeat(self, claimant, now_ms, feeds, stories)).await
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError> {
        retrying(|| workers::workers(self)).await
    }

    async fn sign_off(&self, worker_id: &str) -> Result<(), StoreError> {
        retrying(|| workers::sign_off(self, worker_id)).await
    }

    async fn lookup(&self, identity: &StoryIdentity) -> Result<Option<StoryRecord>, StoreError> {
        retrying(|| record::lookup(self, identity)).await
    }

    async fn match_print(
        &self,
        story_id: &str,
        print: &TextPrint,
        lookup: PrintLookup,
    ) -> Result<Option<NearMatch>, StoreError> {
        near::match_print(self, story_id, print, lookup).await
    }

    async fn save_pending(&self, pending: &PendingMessage) -> Result<(), StoreError> {
        retrying(|| stories::save_pending(self, pending)).await
    }

    async fn mark_published(
        &self,
        story_id: &str,
        revision: u32,
    ) -> Result<Option<StoryTask>, StoreError> {
        retrying(|| archive::mark_published(self, story_id, revision)).await
    }

    async fn mark_unchanged(
        &self,
        story_id: &str,
        item_version: u32,
    ) -> Result<Option<StoryTask>, StoreError> {
        retrying(|| stories::mark_unchanged(self, story_id, item_version)).await
    }

    async fn begin_attempt(&self, story_id: &str) -> Result<u32, StoreError> {
        retrying(|| stories::begin_attempt(self, story_id)).await
    }

    async fn unfinished(&self, changed_before_ms: i64) -> Result<Vec<StoryWork>, StoreError> {
        retrying(|| stories::unfinished(self, changed_before_ms)).await
    }

    async fn story(&self, story_id: &str) -> Result<Option<StoryRecord>, StoreError> {
        retrying(|| stories::story(self, story_id)).await
    }

    async fn unfinished_unclaimed(&self, now_ms: i64) -> Result<u64, StoreError> {
        retrying(|| stories::unfinished_unclaimed(self, now_ms)).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        retrying(|| archive::stats(self)).await
    }

    async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        retrying(|| feeds::feed_states(self)).await
    }

    async fn stories_per_feed(&self) -> Result<Vec<(String, u64)>, StoreError> {
        retrying(|| stories::stories_per_feed(self)).await
    }

    async fn archived(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        retrying(|| archive::archived(self, after_seq, since_ms, until_ms, limit)).await
    }

    async fn replay_position(&self, name: &str) -> Result<Option<i64>, StoreError> {
        retrying(|| archive::replay_position(self, name)).await
    }

    async fn save_replay_position(&self, name: &str, seq: Option<i64>) -> Result<(), StoreError> {
        retrying(|| archive::save_replay_position(self, name, seq)).await
    }

    async fn prune_archive(
        &self,
        older_than_ms: Option<i64>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError> {
        retrying(|| archive::prune_archive(self, older_than_ms, max_bytes)).await
    }

    /// Every commit is durable on the server already: this only measures
    /// the store's size again.
    async fn checkpoint(&self) -> Result<(), StoreError> {
        archive::refresh_size(self).await
    }

    /// `pg_database_size` is a query and this call is not async: the figure
    /// is the bytes of the store's own tables (indexes and TOAST included,
    /// not the rest of a shared database), measured at connect and again
    /// by `stats`, `prune_archive` (the worker's periodic sweep) and
    /// `checkpoint`.
    fn size_bytes(&self) -> Option<u64> {
        let size = self.size.load(Ordering::Relaxed);
        (size != UNKNOWN_SIZE).then_some(size)
    }
}
