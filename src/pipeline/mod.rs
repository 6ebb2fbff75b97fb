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

mod copies;
mod deliver;
mod feed_saves;
mod feeds;
mod poll;
mod push;
mod queue;
mod scheduler;
mod story;
mod subscriptions;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::feed::FeedItem;
use crate::fetch::Fetcher;
use crate::ops::{CallbackHandler, Metrics};
use crate::publish::Sink;
use crate::store::{Claimant, SharedStore, StoreError, StoryWork};

use feeds::FeedBook;
use queue::Workers;

/// A lock taken even when a panicking holder poisoned it: the sets and maps
/// behind these locks stay consistent at every step.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The feeds and stories this worker holds claims on (polls in flight;
/// stories queued or being worked on), so the heartbeat renews exactly
/// those: a claim dropped by mistake lapses instead of living forever.
#[derive(Default)]
pub(crate) struct Held {
    feeds: Mutex<HashSet<String>>,
    stories: Mutex<HashSet<String>>,
}

impl Held {
    /// Takes a story; false when this worker holds it already.
    fn take_story(&self, id: &str) -> bool {
        lock(&self.stories).insert(id.to_string())
    }

    fn drop_story(&self, id: &str) {
        lock(&self.stories).remove(id);
    }

    fn take_feed(&self, id: &str) {
        lock(&self.feeds).insert(id.to_string());
    }

    fn drop_feed(&self, id: &str) {
        lock(&self.feeds).remove(id);
    }

    fn snapshot(&self) -> (Vec<String>, Vec<String>) {
        let feeds = lock(&self.feeds).iter().cloned().collect();
        let stories = lock(&self.stories).iter().cloned().collect();
        (feeds, stories)
    }
}

/// What every step of a worker shares.
pub(crate) struct Context {
    config: Arc<Config>,
    store: SharedStore,
    /// This worker, as the store knows it.
    claimant: Claimant,
    held: Held,
    /// Feed states on their way to the store, committed in batches.
    feed_saves: feed_saves::FeedSaves,
    fetcher: Fetcher,
    sink: Arc<Sink>,
    metrics: Arc<Metrics>,
    /// Bounds CPU-heavy work (parsing, extraction) to the number of cores.
    cpu: Semaphore,
    /// WebSub, when `[push]` is on.
    push: Option<push::Push>,
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        store: SharedStore,
        claimant: Claimant,
        fetcher: Fetcher,
        sink: Arc<Sink>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
        abort: CancellationToken,
    ) -> Arc<Pipeline> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Pipeline {
            ctx: Arc::new(Context {
                push: push::Push::new(&config.push),
                config,
                store,
                claimant,
                held: Held::default(),
                feed_saves: Default::default(),
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

    /// The handler of the ops endpoint's WebSub callback route (its path,
    /// the largest body taken, the handler), when `[push]` is on.
    pub fn callbacks(self: &Arc<Self>) -> Option<(String, usize, CallbackHandler)> {
        let push = self.ctx.push.as_ref()?;
        let ctx = Arc::clone(&self.ctx);
        let handler: CallbackHandler = Arc::new(move |request| {
            let ctx = Arc::clone(&ctx);
            Box::pin(async move { push::on_callback(&ctx, request).await })
        });
        let max_body = usize::try_from(self.ctx.config.fetch.max_feed_bytes).unwrap_or(usize::MAX);
        Some((push.base.path().to_string(), max_body, handler))
    }

    /// Sets the feeds-by-state gauge from the last poll of each feed.
    pub fn refresh_feed_states(&self) {
        self.feeds.refresh_gauge(&self.ctx.metrics);
    }

    /// Polls every feed once, processes every new story and waits for every
    /// confirm. Returns the number of stories left unfinished in the store
    /// (undelivered, deferred, or dropped when the grace period ran out).
    pub async fn run_once(self: &Arc<Self>) -> u64 {
        let heartbeat = self.join().await;
        scheduler::run_once(&self.ctx, &self.feeds).await;
        self.leave(heartbeat).await;
        self.unfinished_stories().await
    }

    /// The long-running worker: polls feeds when due until `shutdown`.
    pub async fn run_forever(self: &Arc<Self>) {
        let heartbeat = self.join().await;
        scheduler::run_forever(&self.ctx, &self.feeds).await;
        self.leave(heartbeat).await;
    }

    /// Registers this worker, frees what dead workers of this host held,
    /// loads the feed list and starts the heartbeat that keeps claims alive.
    async fn join(&self) -> tokio::task::JoinHandle<()> {
        let ctx = &self.ctx;
        // A previous run under this id (pid 1 of a restarted container)
        // left claims that are ours to take back at once; so did any dead
        // process of this host. Others' claims lapse after a lease.
        if let Ok(workers) = ctx.store.workers().await {
            for worker in workers.iter().filter(|w| {
                w.id == ctx.claimant.id || (w.host == ctx.claimant.host && !process_alive(w.pid))
            }) {
                info!(worker = %worker.id, "releasing the claims of a worker that is gone");
                if let Err(error) = ctx.store.sign_off(&worker.id).await {
                    warn!(%error, "cannot release a dead worker's claims");
                }
            }
        }
        if let Err(error) = ctx
            .store
            .register(&ctx.claimant, Utc::now().timestamp_millis())
            .await
        {
            warn!(%error, "cannot register the worker");
        }
        self.feeds.reload(ctx).await;
        let ctx = Arc::clone(ctx);
        tokio::spawn(async move {
            let mut beat = tokio::time::interval(ctx.claimant.lease / 3);
            loop {
                beat.tick().await;
                let now = Utc::now().timestamp_millis();
                let (feeds, stories) = ctx.held.snapshot();
                match ctx
                    .store
                    .heartbeat(&ctx.claimant, now, &feeds, &stories)
                    .await
                {
                    Ok(live) => {
                        ctx.metrics.workers.set(live as i64);
                    }
                    Err(error) => warn!(%error, "heartbeat failed; claims may lapse"),
                }
            }
        })
    }

    /// Stops the heartbeat and releases every claim, so other workers need
    /// not wait for them to lapse.
    async fn leave(&self, heartbeat: tokio::task::JoinHandle<()>) {
        heartbeat.abort();
        if let Err(error) = self.ctx.store.sign_off(&self.ctx.claimant.id).await {
            warn!(%error, "cannot release this worker's claims; they will lapse");
        }
    }

    /// Ingests items from outside the live polls (a backfill) through the
    /// same dedup and the same messages, attributed to `feed_id`, and waits
    /// until they are published. Returns (new stories, undelivered).
    pub async fn ingest(
        self: &Arc<Self>,
        feed_id: &str,
        items: &[FeedItem],
    ) -> Result<(u64, u64), StoreError> {
        let heartbeat = self.join().await;
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
        self.leave(heartbeat).await;
        tasks?;
        Ok((new, self.ctx.metrics.undelivered.get()))
    }

    /// Stories the store holds unfinished (discovered or built, not yet
    /// confirmed) that no other live worker is on; an unreadable store
    /// counts as one, so it is not success.
    pub async fn unfinished_stories(&self) -> u64 {
        match self
            .ctx
            .store
            .unfinished_unclaimed(Utc::now().timestamp_millis())
            .await
        {
            Ok(count) => count,
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

/// Whether a process of this host is still running (Linux: its `/proc`
/// entry); elsewhere it is taken to be, and its claims lapse in time.
fn process_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}
