//! The embedded store: one SQLite file in WAL mode, owned by one thread.
//!
//! WAL with `synchronous = NORMAL` keeps every committed transaction across a
//! process crash (a power loss may lose the last few, which the at-least-once
//! design re-sends). A file that is not a feedwire store, or is corrupt, is a
//! clear error at start-up, never a silent reset.
//!
//! SQLite serializes writers anyway, so one thread holding the connection
//! loses no parallelism; it keeps blocking calls off the async runtime and
//! callers from piling up threads. Callers await their reply, so the queue
//! of calls is bounded by the number of tasks making them.
//!
//! A bound LIMIT is written `LIMIT ?N + 0`: SQLite's planner reads the value
//! of a bare `LIMIT ?N`, and a statement whose plan read a bound value is
//! parsed and planned again each time it runs (the scheduler's and the
//! story workers' claims run all day).

mod archive;
mod bands;
mod claims;
mod feeds;
mod near;
mod schema;
mod stories;
mod subscriptions;
#[cfg(test)]
mod tests;
mod workers;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use rusqlite::Connection;

use bands::BandIndex;

use super::{
    ArchivedMessage, Claimant, DiscoveredItem, FeedState, FeedSync, NearMatch, PendingMessage,
    PrintLookup, Store, StoreError, StoreStats, StoryRecord, StoryTask, StoryWork, WorkerRecord,
};
use crate::config::FeedConfig;
use crate::dedup::{StoryIdentity, TextPrint};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Work for the store thread, which owns the connection and the band index
/// of the near-duplicate prints.
type Job = Box<dyn FnOnce(&mut Connection, &mut BandIndex) + Send>;

/// Reads a text column that must hold one of the names `parse` knows: a
/// value this release does not know is an error, never a silent default.
fn known<T>(
    row: &rusqlite::Row<'_>,
    index: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unknown value `{text}`").into(),
        )
    })
}

pub struct SqliteStore {
    jobs: std::sync::mpsc::Sender<Job>,
    /// The file, for its size; `None` in memory.
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if missing) the store at `path`.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let display = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Corrupt {
                path: display.clone(),
                reason: format!("cannot create directory {}: {e}", parent.display()),
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: display.clone(),
            source,
        })?;
        Self::start(conn, &display, Some(path.to_path_buf()))
    }

    /// A store that lives in memory only (tests, `--dry-run` style tools).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::start(Connection::open_in_memory()?, ":memory:", None)
    }

    fn start(
        mut conn: Connection,
        display: &str,
        path: Option<PathBuf>,
    ) -> Result<SqliteStore, StoreError> {
        schema::init(&mut conn, display)?;
        let mut bands = near::load_bands(&conn)?;
        // Every statement of the hot path stays parsed (rusqlite keeps 16).
        conn.set_prepared_statement_cache_capacity(96);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("feedwire-store".into())
            .spawn(move || {
                // Ends when the store is dropped.
                while let Ok(job) = queue.recv() {
                    job(&mut conn, &mut bands);
                }
            })
            .map_err(|e| StoreError::Task(format!("cannot start the store thread: {e}")))?;
        Ok(SqliteStore { jobs, path })
    }

    /// Runs `call` on the store's thread and returns its result.
    async fn call<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.call_with_bands(move |conn, _| call(conn)).await
    }

    /// [`SqliteStore::call`] for work on the near-duplicate prints, which
    /// also gets the band index.
    async fn call_with_bands<T, F>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &mut BandIndex) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move |conn, bands| {
                let _ = reply.send(call(conn, bands));
            }))
            .map_err(|_| StoreError::Task("store thread has stopped".into()))?;
        result
            .await
            .map_err(|_| StoreError::Task("store call was dropped".into()))?
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn sync_feeds(&self, feeds: &[FeedConfig]) -> Result<FeedSync, StoreError> {
        let feeds = feeds.to_vec();
        self.call(move |c| feeds::sync_feeds(c, &feeds)).await
    }

    async fn add_feeds(&self, feeds: &[FeedConfig]) -> Result<Vec<String>, StoreError> {
        let feeds = feeds.to_vec();
        self.call(move |c| feeds::add_feeds(c, &feeds)).await
    }

    async fn remove_feed(&self, feed_id: &str) -> Result<bool, StoreError> {
        let feed_id = feed_id.to_string();
        self.call(move |c| feeds::remove_feed(c, &feed_id)).await
    }

    async fn feeds(&self) -> Result<Vec<FeedConfig>, StoreError> {
        self.call(feeds::feeds).await
    }

    async fn claim_due_feeds(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<FeedState>, StoreError> {
        let claimant = claimant.clone();
        self.call(move |c| feeds::claim_due_feeds(c, &claimant, now_ms, limit))
            .await
    }

    async fn claim_feed(
        &self,
        claimant: &Claimant,
        feed_id: &str,
        now_ms: i64,
    ) -> Result<Option<FeedState>, StoreError> {
        let (claimant, feed_id) = (claimant.clone(), feed_id.to_string());
        self.call(move |c| feeds::claim_feed(c, &claimant, &feed_id, now_ms))
            .await
    }

    async fn next_due_ms(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        self.call(move |c| feeds::next_due_ms(c, now_ms)).await
    }

    async fn claim_unfinished(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        limit: usize,
        waiting_too: bool,
    ) -> Result<Vec<StoryWork>, StoreError> {
        let claimant = claimant.clone();
        self.call(move |c| claims::claim_unfinished(c, &claimant, now_ms, limit, waiting_too))
            .await
    }

    async fn release(&self, story_id: &str, until_ms: i64) -> Result<(), StoreError> {
        let story_id = story_id.to_string();
        self.call(move |c| claims::release(c, &story_id, until_ms))
            .await
    }

    async fn register(&self, claimant: &Claimant, now_ms: i64) -> Result<(), StoreError> {
        let claimant = claimant.clone();
        self.call(move |c| workers::register(c, &claimant, now_ms))
            .await
    }

    async fn heartbeat(
        &self,
        claimant: &Claimant,
        now_ms: i64,
        feeds: &[String],
        stories: &[String],
    ) -> Result<u64, StoreError> {
        let (claimant, feeds, stories) = (claimant.clone(), feeds.to_vec(), stories.to_vec());
        self.call(move |c| workers::heartbeat(c, &claimant, now_ms, &feeds, &stories))
            .await
    }

    async fn workers(&self) -> Result<Vec<WorkerRecord>, StoreError> {
        self.call(workers::workers).await
    }

    async fn sign_off(&self, worker_id: &str) -> Result<(), StoreError> {
        let worker_id = worker_id.to_string();
        self.call(move |c| workers::sign_off(c, &worker_id)).await
    }

    async fn feed_state(&self, feed_id: &str) -> Result<Option<FeedState>, StoreError> {
        let feed_id = feed_id.to_string();
        self.call(move |c| feeds::feed_state(c, &feed_id)).await
    }

    async fn save_feed_states(&self, states: &[FeedState]) -> Result<(), StoreError> {
        let states = states.to_vec();
        self.call(move |c| feeds::save_feed_states(c, &states))
            .await
    }

    async fn feed_states(&self) -> Result<Vec<FeedState>, StoreError> {
        self.call(feeds::feed_states).await
    }

    async fn record_items(
        &self,
        claimant: &Claimant,
        feed_id: &str,
        items: &[DiscoveredItem],
        ambiguous: &[String],
    ) -> Result<Vec<StoryTask>, StoreError> {
        let (claimant, feed_id) = (claimant.clone(), feed_id.to_string());
        let (items, ambiguous) = (items.to_vec(), ambiguous.to_vec());
        self.call(move |c| stories::record_items(c, &claimant, &feed_id, &items, &ambiguous))
            .await
    }

    async fn lookup(&self, identity: &StoryIdentity) -> Result<Option<StoryRecord>, StoreError> {
        let identity = identity.clone();
        self.call(move |c| stories::lookup(c, &identity)).await
    }

    async fn match_print(
        &self,
        story_id: &str,
        print: &TextPrint,
        lookup: PrintLookup,
    ) -> Result<Option<NearMatch>, StoreError> {
        let (story_id, print) = (story_id.to_string(), *print);
        self.call_with_bands(move |c, bands| near::match_print(c, bands, &story_id, &print, lookup))
            .await
    }

    async fn save_pending(&self, pending: &PendingMessage) -> Result<(), StoreError> {
        let pending = pending.clone();
        self.call(move |c| stories::save_pending(c, &pending)).await
    }

    async fn mark_published(
        &self,
        story_id: &str,
        revision: u32,
    ) -> Result<Option<StoryTask>, StoreError> {
        let story_id = story_id.to_string();
        self.call(move |c| stories::mark_published(c, &story_id, revision))
            .await
    }

    async fn mark_unchanged(
        &self,
        story_id: &str,
        item_version: u32,
    ) -> Result<Option<StoryTask>, StoreError> {
        let story_id = story_id.to_string();
        self.call(move |c| stories::mark_unchanged(c, &story_id, item_version))
            .await
    }

    async fn begin_attempt(&self, story_id: &str) -> Result<u32, StoreError> {
        let story_id = story_id.to_string();
        self.call(move |c| stories::begin_attempt(c, &story_id))
            .await
    }

    async fn unfinished(&self, changed_before_ms: i64) -> Result<Vec<StoryWork>, StoreError> {
        self.call(move |c| stories::unfinished(c, changed_before_ms))
            .await
    }

    async fn unfinished_unclaimed(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.call(move |c| claims::unfinished_unclaimed(c, now_ms))
            .await
    }

    async fn story(&self, story_id: &str) -> Result<Option<StoryRecord>, StoreError> {
        let story_id = story_id.to_string();
        self.call(move |c| stories::story(c, &story_id)).await
    }

    async fn stories_per_feed(&self) -> Result<Vec<(String, u64)>, StoreError> {
        self.call(stories::stories_per_feed).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        self.call(archive::stats).await
    }

    async fn archived(
        &self,
        after_seq: i64,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        self.call(move |c| archive::archived(c, after_seq, since_ms, until_ms, limit))
            .await
    }

    async fn replay_position(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let name = name.to_string();
        self.call(move |c| archive::replay_position(c, &name)).await
    }

    async fn save_replay_position(&self, name: &str, seq: Option<i64>) -> Result<(), StoreError> {
        let name = name.to_string();
        self.call(move |c| archive::save_replay_position(c, &name, seq))
            .await
    }

    async fn prune_archive(
        &self,
        older_than_ms: Option<i64>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError> {
        self.call(move |c| archive::prune_archive(c, older_than_ms, max_bytes))
            .await
    }

    async fn checkpoint(&self) -> Result<(), StoreError> {
        self.call(archive::checkpoint).await
    }

    fn size_bytes(&self) -> Option<u64> {
        self.path.as_deref().map(files_size)
    }
}

/// Bytes on disk of an SQLite store: the file and its WAL and shared memory.
pub fn files_size(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            std::fs::metadata(file).ok().map(|m| m.len())
        })
        .sum()
}
