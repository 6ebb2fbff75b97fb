//! Persistent state: feed poll state, story identities and each story's
//! progress from discovered to confirmed.
//!
//! The pipeline talks to the async [`Store`] trait, so a shared backend can
//! stand where the embedded SQLite one does. A story is marked published
//! only after the broker confirmed it, so a crash re-sends and never loses.

pub mod migrate;
mod postgres;
mod prints;
mod sqlite;
mod subscriptions;
#[cfg(test)]
pub(crate) mod tests;

pub use crate::schedule::FeedState;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::FeedConfig;
use crate::dedup::{StoryIdentity, TextPrint, item_body_print, item_fingerprint};
use crate::feed::FeedItem;
use crate::message::{Envelope, ExtractionStatus};

pub use migrate::{MigrateOptions, MigrationReport, sqlite_to_postgres, sqlite_to_postgres_with};
pub use postgres::PostgresStore;
pub use prints::{NearMatch, PrintLookup};
pub(crate) use prints::{NearPrint, earliest_match};
pub use sqlite::{SqliteStore, files_size};
pub use subscriptions::{SubscriptionRecord, SubscriptionStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("store {path} is not a feedwire store or is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: stored item is unreadable: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("store task failed: {0}")]
    Task(String),
    #[error("store holds a value this feedwire does not know: {0}")]
    Invalid(String),
    #[error("store: {}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("store: cannot get a database connection: {}", with_causes(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("store URL: {0}")]
    Config(String),
    #[error("store migration: {0}")]
    Migrate(String),
}

/// An error with its causes: the PostgreSQL client's errors say only
/// "db error" or "error performing TLS handshake" until their source.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

/// One item of a polled feed, with its identity worked out.
#[derive(Debug, Clone)]
pub struct DiscoveredItem {
    pub identity: StoryIdentity,
    /// [`item_fingerprint`]: what the feed says of the item changed.
    pub fingerprint: String,
    /// [`item_body_print`]: the item's text, when long enough to decide
    /// whether two items of one feed are one story.
    pub body: Option<String>,
    pub item: FeedItem,
}

impl DiscoveredItem {
    /// The item with what the stores compare it by, computed once here
    /// rather than by each backend.
    pub fn new(identity: StoryIdentity, item: &FeedItem) -> DiscoveredItem {
        DiscoveredItem {
            identity,
            fingerprint: item_fingerprint(item),
            body: item_body_print(item),
            item: item.clone(),
        }
    }
}

/// A story that needs fetching, extracting and publishing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryTask {
    pub story_id: String,
    pub feed_id: String,
    pub item: FeedItem,
    /// The item's normalized link (its identity URL), when it has one.
    pub url: Option<String>,
    /// Bumped each time a feed shows the story's item changed; a message
    /// built from an older version leaves the story open after its confirm.
    pub item_version: u32,
    /// Last confirmed revision, 0 when never published.
    pub published_revision: u32,
    /// Content hash of the last confirmed revision.
    pub published_hash: Option<String>,
    /// How the text of the last confirmed revision was obtained.
    pub published_status: Option<ExtractionStatus>,
}

/// A built message waiting for the broker's confirm.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingMessage {
    pub envelope: Envelope,
    pub content_hash: String,
    pub status: ExtractionStatus,
    /// The item version the message was built from.
    pub item_version: u32,
}

/// Work the pipeline must do for one story.
#[derive(Debug, Clone, PartialEq)]
pub enum StoryWork {
    /// Fetch, extract, build the message, publish.
    Process(Box<StoryTask>),
    /// The message was built before a crash or a failed publish: send it
    /// again as it is (same `message_id`).
    Republish(Envelope),
}

impl StoryWork {
    pub fn story_id(&self) -> &str {
        match self {
            StoryWork::Process(task) => &task.story_id,
            StoryWork::Republish(envelope) => &envelope.story_id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoryState {
    Discovered,
    Fetched,
    Published,
}

impl StoryState {
    pub(crate) fn parse(text: &str) -> Option<StoryState> {
        match text {
            "discovered" => Some(StoryState::Discovered),
            "fetched" => Some(StoryState::Fetched),
            "published" => Some(StoryState::Published),
            _ => None,
        }
    }
}

/// A story as the store knows it (for tests, `feeds check` and operators).
#[derive(Debug, Clone, PartialEq)]
pub struct StoryRecord {
    pub story_id: String,
    pub state: StoryState,
    pub feed_id: String,
    pub url: Option<String>,
    pub revision: u32,
    pub content_hash: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    pub feeds: u64,
    pub stories: u64,
    pub discovered: u64,
    pub fetched: u64,
    pub published: u64,
    pub archived_messages: u64,
    pub archive_bytes: u64,
    pub archive_oldest_ms: Option<i64>,
    pub archive_newest_ms: Option<i64>,
}

/// A message as it was published, kept for replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedMessage {
    /// Publishing order.
    pub seq: i64,
    pub feed_id: String,
    pub published_ms: i64,
    pub envelope: Envelope,
}

/// A worker as the store knows it: who holds the feeds and stories it
/// claimed, and for how long they stay its own without a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimant {
    /// `host:pid`: unique among live workers, and the same for a process
    /// restarted as pid 1 of the same pod.
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// A claim not renewed for this long is free for any worker.
    pub lease: Duration,
}

impl Claimant {
    /// This process, on this host.
    pub fn this_process(lease: Duration) -> Claimant {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        Claimant::new(&host, std::process::id(), lease)
    }

    pub fn new(host: &str, pid: u32, lease: Duration) -> Claimant {
        Claimant {
            id: format!("{host}:{pid}"),
            host: host.to_string(),
            pid,
            lease,
        }
    }

    /// When a claim made or renewed at `now_ms` lapses.
    pub fn lease_until(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(self.lease.as_millis() as i64)
    }
}

/// A worker registered in the store, as last heard of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerRecord {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
}

/// What bringing the config's feeds into the store changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedSync {
    pub added: u64,
    pub updated: u64,
    /// Feeds that came from the config and are no longer in it.
    pub removed: u64,
}

/// Persistent state behind the pipeline, shared by every task of a worker
/// and, with a shared backend, by every worker of a fleet: feeds and
/// stories are claimed with a lease, so no two workers hold one at once.
#[async_trait]
pub trait Store: SubscriptionStore + Send + Sync + 'static {
    /// Brings the feeds named in the config into the store: added, or
    /// updated (the config wins); a feed that came from the config and is
    /// no longer in it is removed. Feeds added with `feeds add` stay.
    async fn sync_feeds(&self, feeds: &[FeedConfig]) -> Result<FeedSync, StoreError>;

    /// Adds feeds (`feeds add`, `feeds import-opml`); an id the store has
    /// already is left as it is. Returns the ids added.
    async fn add_feeds(&self, feeds: &[FeedConfig]) -> Result<Vec<String>, StoreError>;

    /// Removes a feed from the list; its stories and archive stay.
    async fn remove_feed(&self, feed_id: &str) -> Result<bool, StoreError>;

    /// Every feed the workers poll, by id.
    async fn feeds(&self) -> Result<Vec<FeedConfig>, StoreError>;

    async fn feed_state(&self, feed_id: &str) -> Result<Option<FeedState>, StoreError>;

    /// Saves a feed's state after a poll and releases the feed's claim.
    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError> {
        self.save_feed_states(std::slice::from_ref(state)).await
    }

    /// Saves the states of several feeds after their polls, in one
    /// transaction, and releases their claims: polls that end together
    /// cost one commit.
    async fn save_feed_states(&self, states: &[FeedState]) -> Result<(), StoreError>;

    /// Claims up to `limit` feeds due at `now_ms` that no worker holds,
    /// soonest first.
    async fn claim_due_feeds(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<FeedState>, StoreError>;

    /// Claims one feed whether or not it is due (`run --once`), unless
    /// another worker holds it.
    async fn claim_feed(
        &self,
        claimant: &Claimant,
        feed_id: &str,
        now_ms: i64,
    ) -> Result<Option<FeedState>, StoreError>;

    /// When the next feed that no worker holds falls due.
    async fn next_due_ms(&self, now_ms: i64) -> Result<Option<i64>, StoreError>;

    /// Records the items of one poll of `feed_id` in one transaction and
    /// returns the stories that need work, claimed for `claimant`: new
    /// ones, and known ones whose item changed in this feed since its last
    /// poll. `ambiguous` are keys the document showed to name several
    /// stories: never matched again. An item that changes while its story
    /// is unfinished is kept, and the story reopens once the message in
    /// progress is confirmed.
    async fn record_items(
        &self,
        claimant: &Claimant,
        feed_id: &str,
        items: &[DiscoveredItem],
        ambiguous: &[String],
    ) -> Result<Vec<StoryTask>, StoreError>;

    /// Claims up to `limit` unfinished stories that no worker holds, oldest
    /// first: what a restart resumes, what a dead worker left, what a
    /// failed publish or a deferred update waits to retry (once its time
    /// has come, or at once with `waiting_too`, as `run --once` does).
    async fn claim_unfinished(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        limit: usize,
        waiting_too: bool,
    ) -> Result<Vec<StoryWork>, StoreError>;

    /// Lets go of a story that stays unfinished, not to be claimed again
    /// before `until_ms` (its publish gave up, or its page is down and what
    /// it would publish now is worse than what it published before).
    async fn release(&self, story_id: &str, until_ms: i64) -> Result<(), StoreError>;

    /// Registers the claimant as a live worker.
    async fn register(&self, claimant: &Claimant, now_ms: i64) -> Result<(), StoreError>;

    /// Renews the claimant's heartbeat and its claims on the feeds and
    /// stories it is working on (a claim it dropped by mistake lapses).
    /// Returns how many workers are alive (heard of within a lease).
    async fn heartbeat(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        feeds: &[String],
        stories: &[String],
    ) -> Result<u64, StoreError>;

    /// Every registered worker.
    async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError>;

    /// Releases everything `worker_id` holds and forgets the worker (it
    /// stopped, or it died on this host).
    async fn sign_off(&self, worker_id: &str) -> Result<(), StoreError>;

    /// Looks up whether any key of `identity` is known, without recording.
    async fn lookup(&self, identity: &StoryIdentity) -> Result<Option<StoryRecord>, StoreError>;

    /// Looks `print` up among the prints of stories printed before
    /// `story_id` was first (all of them, when it never was) and within the
    /// window, that share an LSH band with it (earliest first, at most 200:
    /// a wire story run by hundreds of sites has its original among the
    /// first): the earliest at least `min_similarity` similar is the
    /// story's match, and its cluster the story's. Then keeps `print` as the
    /// story's print, in that cluster (its own without a match), and drops
    /// some prints made before the window. A story printed before keeps its
    /// place in time, so its revisions never match itself or its copies.
    async fn match_print(
        &self,
        story_id: &str,
        print: &TextPrint,
        lookup: PrintLookup,
    ) -> Result<Option<NearMatch>, StoreError>;

    /// Keeps the built message of a story until the broker confirms it.
    async fn save_pending(&self, pending: &PendingMessage) -> Result<(), StoreError>;

    /// The broker confirmed `revision` of the story: it is done, unless its
    /// item changed since the message was built; then the story is open
    /// again and its new task is returned.
    async fn mark_published(
        &self,
        story_id: &str,
        revision: u32,
    ) -> Result<Option<StoryTask>, StoreError>;

    /// The story was looked at again and its title and text did not change.
    /// Returns the story's new task if its item changed meanwhile.
    async fn mark_unchanged(
        &self,
        story_id: &str,
        item_version: u32,
    ) -> Result<Option<StoryTask>, StoreError>;

    /// Counts one more try at the story's page and returns the count (kept
    /// across restarts, so a page that crashes the worker is not fetched
    /// forever). Reset when the story is confirmed.
    async fn begin_attempt(&self, story_id: &str) -> Result<u32, StoreError>;

    /// Every story not yet confirmed whose state last changed at or before
    /// `changed_before_ms`, oldest first, claimed or not (for operators and
    /// tests; workers take stories with [`Store::claim_unfinished`]).
    async fn unfinished(&self, changed_before_ms: i64) -> Result<Vec<StoryWork>, StoreError>;

    /// How many stories are unfinished and held by no live worker: what a
    /// one-off run leaves behind (stories other workers are on are theirs).
    async fn unfinished_unclaimed(&self, now_ms: i64) -> Result<u64, StoreError>;

    async fn story(&self, story_id: &str) -> Result<Option<StoryRecord>, StoreError>;

    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Every feed's poll state, by feed id.
    async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError>;

    /// How many stories each feed brought first, by feed id.
    async fn stories_per_feed(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Up to `limit` archived messages after `after_seq`, published within
    /// `[since_ms, until_ms]`, in publishing order.
    async fn archived(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError>;

    /// Where the replay named `name` got to, if it was interrupted.
    async fn replay_position(&self, name: &str) -> Result<Option<i64>, StoreError>;

    /// Records (or with `None`, forgets) where a replay got to.
    async fn save_replay_position(&self, name: &str, seq: Option<i64>) -> Result<(), StoreError>;

    /// Drops archived messages older than `older_than_ms`, then the oldest
    /// until the bodies fit in `max_bytes`. Returns how many were dropped.
    async fn prune_archive(
        &self,
        older_than_ms: Option<i64>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError>;

    /// Flushes everything to disk (the WAL into the main file).
    async fn checkpoint(&self) -> Result<(), StoreError>;

    /// Bytes the store takes on disk, when it knows.
    fn size_bytes(&self) -> Option<u64>;
}

pub type SharedStore = Arc<dyn Store>;
