//! One worker's pass from poll to publish, a room per step:
//!
//! ```text
//! scheduler ──due feed──▶ poll ──new/changed stories──▶ queue ──▶ story ──message──▶ deliver
//!  (when)                 (fetch, parse, record)         (bounded,   (page, extract,     (publish, confirm,
//!                                                         in flight)  compose, pending)   mark published)
//! ```
//!
//! [`Context`] holds what every step shares. Shutdown comes in two steps,
//! each a [`CancellationToken`]: `shutdown` stops polling and taking new
//! stories; `abort` (grace period over, or a second signal) stops in-flight
//! work, which is left unmarked and resumed on the next start.

mod deliver;
mod poll;
mod queue;
mod scheduler;
mod story;

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::feed::FeedItem;
use crate::fetch::Fetcher;
use crate::ops::Metrics;
use crate::publish::Sink;
use crate::store::{SharedStore, StoreError, StoryWork};

use poll::FeedBook;
use queue::Workers;

/// What every step of a worker shares.
pub(crate) struct Context {
    config: Arc<Config>,
    store: SharedStore,
    fetcher: Fetcher,
    sink: Arc<Sink>,
    metrics: Arc<Metrics>,
    /// Bounds CPU-heavy work (parsing, extraction) to the number of cores.
    cpu: Semaphore,
    shutdown: CancellationToken,
    abort: CancellationToken,
}

impl Context {
    /// Runs CPU-heavy work off the async threads, at most one job per core.
    async fn on_cpu<T, F>(&self, job: F) -> Result<T, String>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _permit = self.cpu.acquire().await.map_err(|e| e.to_string())?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| e.to_string())
    }
}

/// A worker: the scheduler's run modes over the shared context, the feeds'
/// health and the story queue.
pub struct Pipeline {
    ctx: Arc<Context>,
    feeds: Arc<FeedBook>,
}

impl Pipeline {
    pub fn new(
        config: Arc<Config>,
        store: SharedStore,
        fetcher: Fetcher,
        sink: Arc<Sink>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        abort: CancellationToken,
    ) -> Arc<Pipeline> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Pipeline {
            ctx: Arc::new(Context {
                config,
                store,
                fetcher,
                sink,
                metrics,
                cpu: Semaphore::new(cores),
                shutdown,
                abort,
            }),
            feeds: Arc::new(FeedBook::default()),
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.ctx.metrics
    }

    /// Whether the story queue is full, so polling is held back.
    pub fn backpressured(&self) -> bool {
        self.ctx.metrics.stories_queued.get() >= self.ctx.config.pipeline.queue_capacity as i64
    }

    /// Sets the feeds-by-state gauge from the last poll of each feed.
    pub fn refresh_feed_states(&self) {
        self.feeds
            .refresh_gauge(&self.ctx.metrics, self.ctx.config.feeds.len());
    }

    /// Polls every feed once, processes every new story and waits for every
    /// confirm. Returns the number of stories left unfinished in the store
    /// (undelivered, deferred, or dropped when the grace period ran out).
    pub async fn run_once(self: &Arc<Self>) -> u64 {
        scheduler::run_once(&self.ctx, &self.feeds).await;
        self.unfinished_stories().await
    }

    /// The long-running worker: polls feeds when due until `shutdown`.
    pub async fn run_forever(self: &Arc<Self>) {
        scheduler::run_forever(&self.ctx, &self.feeds).await;
    }

    /// Ingests items from outside the live polls (a backfill) through the
    /// same dedup and the same messages, attributed to `feed_id`, and waits
    /// until they are published. Returns (new stories, undelivered).
    pub async fn ingest(
        self: &Arc<Self>,
        feed_id: &str,
        items: &[FeedItem],
    ) -> Result<(u64, u64), StoreError> {
        let workers = Workers::start(&self.ctx, &self.feeds);
        let tasks = poll::record(&self.ctx, feed_id, items).await;
        let new = tasks.as_ref().map_or(0, |t| t.len() as u64);
        for task in tasks.iter().flatten() {
            workers
                .intake
                .enqueue(StoryWork::Process(Box::new(task.clone())))
                .await;
        }
        workers.finish().await;
        tasks?;
        Ok((new, self.ctx.metrics.undelivered.get()))
    }

    /// Stories the store holds unfinished (discovered or built, not yet
    /// confirmed); an unreadable store counts as one, so it is not success.
    pub async fn unfinished_stories(&self) -> u64 {
        match self.ctx.store.stats().await {
            Ok(stats) => stats.discovered + stats.fetched,
            Err(error) => {
                warn!(%error, "cannot count unfinished stories");
                1
            }
        }
    }

    /// Applies the archive's retention (`store.archive_max_age`,
    /// `store.archive_max_bytes`).
    pub async fn prune_archive(&self) {
        prune_archive(&self.ctx).await;
    }
}

async fn prune_archive(ctx: &Context) {
    let cutoff = ctx
        .config
        .store
        .archive_max_age
        .map(|age| Utc::now().timestamp_millis() - age.as_millis() as i64);
    match ctx
        .store
        .prune_archive(cutoff, ctx.config.store.archive_max_bytes)
        .await
    {
        Ok(0) => {}
        Ok(n) => info!(dropped = n, "archive retention applied"),
        Err(error) => warn!(%error, "cannot apply archive retention"),
    }
}
