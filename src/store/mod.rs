//! Persistent state: feed poll state, story identities and each story's
//! progress from discovered to confirmed.
//!
//! The pipeline talks to the [`Store`] trait so that a shared backend
//! (PostgreSQL, say) can replace the embedded SQLite one later. A story is
//! marked published only after the broker confirmed it, so a crash re-sends
//! and never loses.

mod sqlite;
#[cfg(test)]
pub(crate) mod tests;

use crate::schedule::{Pace, SkipSchedule};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::dedup::StoryIdentity;
use crate::feed::FeedItem;
use crate::message::{ArticleEvent, Envelope, ExtractionStatus};

pub use sqlite::SqliteStore;

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
}

/// What the scheduler remembers about one feed between polls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedState {
    pub feed_id: String,
    pub url: String,
    pub title: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Unix milliseconds.
    pub next_due_ms: i64,
    pub consecutive_failures: u32,
    pub last_polled_ms: Option<i64>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    /// Where the feed moved permanently (301/308); polled there from then on.
    pub moved_url: Option<String>,
    /// The publishing pace seen in the last parsed body (a 304 has none).
    pub pace: Pace,
    /// RSS `<ttl>` of the last parsed body, ms.
    pub ttl_ms: Option<i64>,
    /// RSS `skipHours`/`skipDays` of the last parsed body.
    pub skip: SkipSchedule,
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
    fn parse(text: &str) -> Option<StoryState> {
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

/// Persistent state behind the pipeline. Implementations must be safe to
/// call from several threads; calls are short and blocking (the async
/// pipeline wraps them in `spawn_blocking`).
pub trait Store: Send + Sync + 'static {
    fn feed_state(&self, feed_id: &str) -> Result<Option<FeedState>, StoreError>;
    fn save_feed_state(&self, state: &FeedState) -> Result<(), StoreError>;

    /// Records the items of one poll of `feed_id` in one transaction and
    /// returns the stories that need work: new ones, and known ones whose
    /// item changed in this feed since its last poll. `ambiguous` are keys
    /// the document showed to name several stories: never matched again.
    /// An item that changes while its story is unfinished is kept, and the
    /// story reopens once the message in progress is confirmed.
    fn record_items(
        &self,
        feed_id: &str,
        items: &[DiscoveredItem],
        ambiguous: &[String],
    ) -> Result<Vec<StoryTask>, StoreError>;

    /// Looks up whether any key of `identity` is known, without recording.
    fn lookup(&self, identity: &StoryIdentity) -> Result<Option<StoryRecord>, StoreError>;

    /// Keeps the built message of a story until the broker confirms it.
    fn save_pending(&self, pending: &PendingMessage) -> Result<(), StoreError>;

    /// The broker confirmed `revision` of the story: it is done, unless its
    /// item changed since the message was built; then the story is open
    /// again and its new task is returned.
    fn mark_published(
        &self,
        story_id: &str,
        revision: u32,
    ) -> Result<Option<StoryTask>, StoreError>;

    /// The story was looked at again and its title and text did not change.
    /// Returns the story's new task if its item changed meanwhile.
    fn mark_unchanged(
        &self,
        story_id: &str,
        item_version: u32,
    ) -> Result<Option<StoryTask>, StoreError>;

    /// Counts one more try at the story's page and returns the count (kept
    /// across restarts, so a page that crashes the worker is not fetched
    /// forever). Reset when the story is confirmed.
    fn begin_attempt(&self, story_id: &str) -> Result<u32, StoreError>;

    /// Leaves the story open for a later sweep (its page failed, and what it
    /// would publish now is worse than what it published before).
    fn defer(&self, story_id: &str) -> Result<(), StoreError>;

    /// Every story not yet confirmed whose state last changed at or before
    /// `changed_before_ms`, oldest first: what a restart resumes (with
    /// `i64::MAX`), or what has been stuck for a while.
    fn unfinished(&self, changed_before_ms: i64) -> Result<Vec<StoryWork>, StoreError>;

    fn story(&self, story_id: &str) -> Result<Option<StoryRecord>, StoreError>;

    fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Every feed's poll state, by feed id.
    fn feed_states(&self) -> Result<Vec<FeedState>, StoreError>;

    /// How many stories each feed brought first, by feed id.
    fn stories_per_feed(&self) -> Result<Vec<(String, u64)>, StoreError>;

    /// Up to `limit` archived messages after `after_seq`, published within
    /// `[since_ms, until_ms]`, in publishing order.
    fn archived(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError>;

    /// Where the replay named `name` got to, if it was interrupted.
    fn replay_position(&self, name: &str) -> Result<Option<i64>, StoreError>;

    /// Records (or with `None`, forgets) where a replay got to.
    fn save_replay_position(&self, name: &str, seq: Option<i64>) -> Result<(), StoreError>;

    /// Drops archived messages older than `older_than_ms`, then the oldest
    /// until the bodies fit in `max_bytes`. Returns how many were dropped.
    fn prune_archive(
        &self,
        older_than_ms: Option<i64>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError>;

    /// Flushes everything to disk (the WAL into the main file).
    fn checkpoint(&self) -> Result<(), StoreError>;
}

pub type SharedStore = Arc<dyn Store>;

type StoreJob = Box<dyn FnOnce(&dyn Store) + Send>;

/// Runs store calls on one dedicated thread, off the async runtime.
///
/// The embedded store serializes writers anyway, so one thread loses no
/// parallelism, and it keeps blocked callers from piling up threads in
/// tokio's blocking pool. Callers await their reply, so the number of
/// queued calls is bounded by the number of tasks making them.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: std::sync::mpsc::Sender<StoreJob>,
}

impl StoreHandle {
    pub fn new(store: SharedStore) -> StoreHandle {
        let (jobs, queue) = std::sync::mpsc::channel::<StoreJob>();
        std::thread::Builder::new()
            .name("feedwire-store".into())
            .spawn(move || {
                // Ends when every handle is dropped.
                while let Ok(job) = queue.recv() {
                    job(store.as_ref());
                }
            })
            .expect("cannot start the store thread");
        StoreHandle { jobs }
    }

    /// Runs `call` on the store thread and returns its result.
    pub async fn call<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = reply.send(call(store));
            }))
            .map_err(|_| StoreError::Task("store thread has stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Task("store call was dropped".into()))?
    }
}

pub(crate) fn event_name(event: ArticleEvent) -> &'static str {
    match event {
        ArticleEvent::Created => "created",
        ArticleEvent::Updated => "updated",
    }
}

pub(crate) fn event_of(name: &str) -> ArticleEvent {
    if name == "updated" {
        ArticleEvent::Updated
    } else {
        ArticleEvent::Created
    }
}

/// Bytes on disk of an SQLite store: the file and its WAL and shared memory.
pub fn files_size(path: &std::path::Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            std::fs::metadata(file).ok().map(|m| m.len())
        })
        .sum()
}
