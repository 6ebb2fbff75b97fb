//! Persistent state: feed poll state, story identities and each story's
//! progress from discovered to confirmed.
//!
//! The pipeline talks to the async [`Store`] trait, so a shared backend can
//! stand where the embedded SQLite one does. A story is marked published
//! only after the broker confirmed it, so a crash re-sends and never loses.

mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

pub use crate::schedule::FeedState;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::dedup::StoryIdentity;
use crate::feed::FeedItem;
use crate::message::{Envelope, ExtractionStatus};

pub use sqlite::{SqliteStore, files_size};

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
}

/// One item of a polled feed, with its identity worked out.
#[derive(Debug, Clone)]
pub struct DiscoveredItem {
    pub identity: StoryIdentity,
    pub fingerprint: String,
    pub item: FeedItem,
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

/// Persistent state behind the pipeline, shared by every task of a worker.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    async fn feed_state(&self, feed_id: &str) -> Result<Option<FeedState>, StoreError>;
    async fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError>;

    /// Records the items of one poll of `feed_id` in one transaction and
    /// returns the stories that need work: new ones, and known ones whose
    /// item changed in this feed since its last poll. `ambiguous` are keys
    /// the document showed to name several stories: never matched again.
    /// An item that changes while its story is unfinished is kept, and the
    /// story reopens once the message in progress is confirmed.
    async fn record_items(
        &self,
        feed_id: &str,
        items: &[DiscoveredItem],
        ambiguous: &[String],
    ) -> Result<Vec<StoryTask>, StoreError>;

    /// Looks up whether any key of `identity` is known, without recording.
    async fn lookup(&self, identity: &StoryIdentity) -> Result<Option<StoryRecord>, StoreError>;

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

    /// Leaves the story open for a later sweep (its page failed, and what it
    /// would publish now is worse than what it published before).
    async fn defer(&self, story_id: &str) -> Result<(), StoreError>;

    /// Every story not yet confirmed whose state last changed at or before
    /// `changed_before_ms`, oldest first: what a restart resumes (with
    /// `i64::MAX`), or what has been stuck for a while.
    async fn unfinished(&self, changed_before_ms: i64) -> Result<Vec<StoryWork>, StoreError>;

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
