//! Wiring of the stages: the scheduler polls feeds, new stories go through a
//! bounded queue to story workers, which fetch the page, extract the text,
//! build the message, publish it and mark it done only after the confirm.
//!
//! Shutdown comes in two steps, each a [`CancellationToken`]: `shutdown`
//! stops polling and taking new stories; `abort` (grace period over, or a
//! second signal) stops in-flight work, which is left unmarked and resumed
//! on the next start.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};
use url::Url;

use crate::config::{Config, FeedConfig};
use crate::dedup::{content_hash, identify, item_fingerprint, normalize_url};
use crate::extract::{self, Extracted, ExtractionMethod};
use crate::feed::{self, FeedItem};
use crate::fetch::{FeedResponse, FetchError, Fetcher, Validators};
use crate::message::{
    ArticleEvent, ArticleMessage, Envelope, Extraction, ExtractionStatus, FeedRef, SCHEMA_V1,
    word_count,
};
use crate::ops::{KindLabels, Metrics, OutcomeLabels};
use crate::publish::{PublishError, Sink};
use crate::schedule::{self, IntervalPolicy, Pace, failure_backoff};
use crate::store::{
    self, DiscoveredItem, FeedState, PendingMessage, SharedStore, StoreHandle, StoryTask, StoryWork,
};

/// A story on the queue, with when it was queued.
type Queued = (StoryWork, Instant);

/// How often the long-running worker looks for unfinished stories that no
/// worker holds (a publish that gave up, say).
const RESWEEP_EVERY: Duration = Duration::from_secs(60);

/// An unfinished story untouched this long is taken up again by the sweep.
const STUCK_AFTER: Duration = Duration::from_secs(300);

/// Publish attempts for a message the broker refused (returned or nacked)
/// before the story is left for a later sweep.
const REFUSED_PUBLISH_ATTEMPTS: usize = 4;

/// Rounds at a story's page (each with `fetch.page_attempts` tries), counted
/// in the store across restarts. After them a new story goes out with the
/// feed's text, and a published one keeps the revision it has: a page that
/// crashes the worker or stays down cannot hold a story forever.
const PAGE_ROUNDS: u32 = 5;

pub struct Pipeline {
    config: Arc<Config>,
    store: StoreHandle,
    fetcher: Fetcher,
    sink: Arc<Sink>,
    metrics: Arc<Metrics>,
    /// Each polled feed's health, for the feeds-by-state gauge.
    feed_health: Mutex<HashMap<String, FeedHealth>>,
    /// Stories queued or being worked on, so a sweep never doubles one.
    in_flight: Mutex<HashSet<String>>,
    feed_titles: Mutex<HashMap<String, Option<String>>>,
    /// Bounds CPU-heavy extraction to the number of cores.
    cpu: Semaphore,
    shutdown: CancellationToken,
    abort: CancellationToken,
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
            config,
            store: StoreHandle::new(store),
            fetcher,
            sink,
            metrics,
            feed_health: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            feed_titles: Mutex::new(HashMap::new()),
            cpu: Semaphore::new(cores),
            shutdown,
            abort,
        })
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether the story queue is full, so polling is held back.
    pub fn backpressured(&self) -> bool {
        self.metrics.stories_queued.get() >= self.config.pipeline.queue_capacity as i64
    }

    /// Sets the feeds-by-state gauge from the last poll of each feed.
    pub fn refresh_feed_states(&self) {
        let health = self.feed_health.lock().unwrap_or_else(|p| p.into_inner());
        let count = |wanted| health.values().filter(|&&h| h == wanted).count() as i64;
        let (backing_off, dead) = (count(FeedHealth::BackingOff), count(FeedHealth::Dead));
        for (state, value) in [
            (
                "healthy",
                self.config.feeds.len() as i64 - backing_off - dead,
            ),
            ("backing_off", backing_off),
            ("dead", dead),
        ] {
            self.metrics
                .feeds
                .get_or_create(&crate::ops::StateLabels { state })
                .set(value);
        }
    }

    /// Polls every feed once, processes every new story and waits for every
    /// confirm. Returns the number of stories left unfinished in the store
    /// (undelivered, deferred, or dropped when the grace period ran out).
    pub async fn run_once(self: &Arc<Self>) -> u64 {
        let (tx, rx) = mpsc::channel(self.config.pipeline.queue_capacity);
        let workers = tokio::spawn(Arc::clone(self).work(rx));
        self.resume(&tx, i64::MAX).await;
        let mut polls = JoinSet::new();
        let slots = Arc::new(Semaphore::new(self.config.poll.concurrency));
        for index in 0..self.config.feeds.len() {
            if self.shutdown.is_cancelled() {
                break;
            }
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let pipeline = Arc::clone(self);
            let tx = tx.clone();
            polls.spawn(async move {
                let _slot = slot;
                pipeline.poll_and_enqueue(index, &tx).await;
            });
            // Finished polls are reaped as we go, so 100,000 feeds do not
            // leave 100,000 finished tasks waiting.
            while polls.try_join_next().is_some() {}
        }
        // Polls in flight may wait on slow servers: the grace period bounds them.
        loop {
            tokio::select! {
                next = polls.join_next() => if next.is_none() { break },
                _ = self.abort.cancelled() => {
                    polls.abort_all();
                    break;
                }
            }
        }
        drop(tx);
        let _ = workers.await;
        self.unfinished_stories().await
    }

    /// The long-running worker: polls feeds when due until `shutdown`.
    pub async fn run_forever(self: &Arc<Self>) {
        let (tx, rx) = mpsc::channel(self.config.pipeline.queue_capacity);
        let workers = tokio::spawn(Arc::clone(self).work(rx));
        self.resume(&tx, i64::MAX).await;

        // One read of every feed's state: per-feed reads would take seconds
        // at 100,000 feeds.
        let mut next_due: HashMap<String, (String, i64)> = self
            .store
            .call(|s| s.feed_states())
            .await
            .unwrap_or_else(|error| {
                warn!(%error, "cannot read the feeds' schedule; polling every feed now");
                Vec::new()
            })
            .into_iter()
            .map(|state| (state.feed_id, (state.url, state.next_due_ms)))
            .collect();
        let now = Utc::now().timestamp_millis();
        let mut due: BinaryHeap<Reverse<(i64, usize)>> = self
            .config
            .feeds
            .iter()
            .enumerate()
            .map(|(index, feed)| {
                let next = next_due
                    .remove(&feed.id)
                    .filter(|(url, _)| *url == feed.url)
                    .map_or(now, |(_, at)| at);
                Reverse((next, index))
            })
            .collect();
        drop(next_due);
        let (done_tx, mut done_rx) = mpsc::channel::<(usize, i64)>(self.config.feeds.len().max(1));
        let slots = Arc::new(Semaphore::new(self.config.poll.concurrency));
        let mut sweep = tokio::time::interval(RESWEEP_EVERY);
        sweep.tick().await;
        loop {
            let now = Utc::now().timestamp_millis();
            while let Some(Reverse((at, index))) = due.peek().copied() {
                if at > now {
                    break;
                }
                // All slots busy: a finishing poll wakes the loop below.
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    break;
                };
                due.pop();
                let pipeline = Arc::clone(self);
                let tx = tx.clone();
                let done_tx = done_tx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let next = pipeline.poll_and_enqueue(index, &tx).await;
                    let _ = done_tx.send((index, next)).await;
                });
            }
            let wait = due
                .peek()
                .map_or(1000, |Reverse((at, _))| (at - now).clamp(10, 1000));
            tokio::select! {
                _ = self.shutdown.cancelled() => break,
                Some((index, next)) = done_rx.recv() => due.push(Reverse((next, index))),
                _ = sweep.tick() => {
                    // Only stories stuck for a while: a fresh one may belong to
                    // another process (a backfill) working on the same store.
                    let stuck_before = Utc::now().timestamp_millis() - STUCK_AFTER.as_millis() as i64;
                    self.resume(&tx, stuck_before).await;
                    self.prune_archive().await;
                }
                _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            }
        }
        info!("shutting down: polling stopped, finishing in-flight stories");
        drop(tx);
        let _ = workers.await;
    }

    /// Queues every unfinished story that no worker holds and whose state
    /// last changed at or before `changed_before_ms`.
    async fn resume(&self, tx: &mpsc::Sender<Queued>, changed_before_ms: i64) {
        match self
            .store
            .call(move |s| s.unfinished(changed_before_ms))
            .await
        {
            Ok(work) => {
                if !work.is_empty() {
                    info!(stories = work.len(), "resuming unfinished stories");
                }
                for item in work {
                    if self.shutdown.is_cancelled() {
                        return;
                    }
                    self.enqueue(tx, item).await;
                }
            }
            Err(error) => warn!(%error, "cannot read unfinished stories"),
        }
    }

    async fn enqueue(&self, tx: &mpsc::Sender<Queued>, work: StoryWork) {
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            if !in_flight.insert(work.story_id().to_string()) {
                return;
            }
        }
        let story_id = work.story_id().to_string();
        self.metrics.stories_queued.inc();
        // Waits while the queue is full: polling slows to what workers take.
        tokio::select! {
            sent = tx.send((work, Instant::now())) => if sent.is_err() {
                self.metrics.stories_queued.dec();
                self.release(&story_id);
            },
            _ = self.abort.cancelled() => {
                self.metrics.stories_queued.dec();
                self.release(&story_id);
            }
        }
    }

    fn release(&self, story_id: &str) {
        self.in_flight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(story_id);
    }

    /// Takes stories off the queue, `story_concurrency` at a time.
    async fn work(self: Arc<Self>, mut rx: mpsc::Receiver<Queued>) {
        let slots = Arc::new(Semaphore::new(self.config.pipeline.story_concurrency));
        let mut running = JoinSet::new();
        loop {
            let work = tokio::select! {
                work = rx.recv() => work,
                _ = self.abort.cancelled() => None,
            };
            let Some((work, queued_at)) = work else { break };
            self.metrics.stories_queued.dec();
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                break;
            };
            let pipeline = Arc::clone(&self);
            running.spawn(async move {
                let _slot = slot;
                let story_id = work.story_id().to_string();
                let span = match &work {
                    StoryWork::Process(task) => info_span!(
                        "story",
                        story_id = %story_id,
                        feed_id = %task.feed_id,
                        url = task.item.link.as_deref().unwrap_or("")
                    ),
                    StoryWork::Republish(envelope) => info_span!(
                        "story",
                        story_id = %story_id,
                        routing_key = %envelope.routing_key
                    ),
                };
                pipeline.metrics.stories_in_flight.inc();
                tokio::select! {
                    biased;
                    _ = pipeline.handle(work, queued_at).instrument(span) => {}
                    // Left unfinished in the store: counted, resumed next start.
                    _ = pipeline.abort.cancelled() => {
                        pipeline.metrics.undelivered.inc();
                    }
                }
                pipeline.metrics.stories_in_flight.dec();
                pipeline.release(&story_id);
            });
            while running.try_join_next().is_some() {}
        }
        // Stories still queued when the grace period ended: counted as not
        // delivered (they stay unfinished in the store).
        rx.close();
        while let Ok((work, _)) = rx.try_recv() {
            self.metrics.stories_queued.dec();
            self.metrics.undelivered.inc();
            self.release(work.story_id());
        }
        while running.join_next().await.is_some() {}
    }

    /// Stories the store holds unfinished (discovered or built, not yet
    /// confirmed); an unreadable store counts as one, so it is not success.
    pub async fn unfinished_stories(&self) -> u64 {
        match self.store.call(|s| s.stats()).await {
            Ok(stats) => stats.discovered + stats.fetched,
            Err(error) => {
                warn!(%error, "cannot count unfinished stories");
                1
            }
        }
    }

    async fn handle(&self, work: StoryWork, queued_at: Instant) {
        let started_at = Instant::now();
        let mut next = Some(work);
        // A story whose item changed while it was in progress comes back
        // from the store open again: it is processed again right here.
        while let Some(work) = next.take() {
            let envelope = match work {
                StoryWork::Republish(envelope) => envelope,
                StoryWork::Process(task) => match self.build(*task).await {
                    Built::Message(envelope) => envelope,
                    Built::Nothing(reopened) => {
                        next = reopened.map(StoryWork::Process);
                        continue;
                    }
                },
            };
            match self.deliver(envelope).await {
                Delivered::Yes(reopened) => {
                    self.metrics.story_latency.record(queued_at.elapsed());
                    self.metrics.processing_latency.record(started_at.elapsed());
                    next = reopened.map(StoryWork::Process);
                }
                Delivered::No => {}
            }
        }
    }

    /// Fetches, extracts and builds the message; persists it as pending.
    async fn build(&self, task: StoryTask) -> Built {
        let feed = self.config.feed(&task.feed_id);
        let fetch_full_text = feed.is_none_or(|f| self.config.fetch_full_text(f));
        let link = task.item.link.as_deref().and_then(|l| Url::parse(l).ok());
        let mut rounds_spent = false;
        let page = match (&link, fetch_full_text) {
            (Some(url), true) => {
                let id = task.story_id.clone();
                let attempt = self.store.call(move |s| s.begin_attempt(&id)).await;
                let attempt = match attempt {
                    Ok(attempt) => attempt,
                    Err(error) => {
                        warn!(%error, "cannot count the page attempt; the story will be retried");
                        return Built::Nothing(None);
                    }
                };
                rounds_spent = attempt >= PAGE_ROUNDS;
                if attempt > PAGE_ROUNDS {
                    // Tried (and perhaps crashed on) this page often enough.
                    warn!(feed_id = %task.feed_id, url = %url, attempts = attempt - 1, "article page keeps failing; using the feed's text");
                    Some(PageOutcome::Failed)
                } else {
                    Some(self.fetch_and_extract(url, &task).await)
                }
            }
            _ => None,
        };
        let feed_ref = self.feed_ref(&task.feed_id, feed).await;
        // Rendering the feed's HTML is CPU work: off the async threads.
        let composed = {
            let task = task.clone();
            self.on_cpu(move || compose(&task, page, feed_ref)).await
        };
        let message = match composed {
            Ok(message) => message,
            Err(error) => {
                warn!(%error, "building the message failed; the story will be retried");
                return Built::Nothing(None);
            }
        };
        let status = message.extraction.status;
        self.metrics
            .extractions
            .get_or_create(&OutcomeLabels {
                outcome: status.as_str(),
            })
            .inc();
        let unchanged = task.published_revision > 0
            && task.published_hash.as_deref() == Some(message.content_hash.as_str());
        // A revision never degrades what was published: with the page down,
        // an edited summary must not replace the full text.
        let worse = task
            .published_status
            .is_some_and(|published| !status.at_least_as_good_as(published));
        if worse && !rounds_spent {
            info!(story_id = %task.story_id, status = status.as_str(), "page unavailable for an update; the story stays open and is retried");
            let id = task.story_id.clone();
            if let Err(error) = self.store.call(move |s| s.defer(&id)).await {
                warn!(%error, "cannot defer the story");
            }
            return Built::Nothing(None);
        }
        if unchanged || worse {
            if worse {
                warn!(story_id = %task.story_id, "page unavailable for an update after every attempt; keeping the published revision");
            }
            self.metrics.unchanged.inc();
            let (id, version) = (task.story_id.clone(), task.item_version);
            return match self
                .store
                .call(move |s| s.mark_unchanged(&id, version))
                .await
            {
                Ok(reopened) => Built::Nothing(reopened.map(Box::new)),
                Err(error) => {
                    warn!(%error, "cannot mark story unchanged");
                    Built::Nothing(None)
                }
            };
        }
        let envelope = Envelope::new(&message, self.config.routing_key_for(&task.feed_id));
        let pending = PendingMessage {
            envelope: envelope.clone(),
            content_hash: message.content_hash,
            status,
            item_version: task.item_version,
        };
        if let Err(error) = self.store.call(move |s| s.save_pending(&pending)).await {
            warn!(%error, "cannot persist the built message; the story will be retried");
            return Built::Nothing(None);
        }
        Built::Message(envelope)
    }

    async fn fetch_and_extract(&self, url: &Url, task: &StoryTask) -> PageOutcome {
        let attempts = self.config.fetch.page_attempts;
        let started = Instant::now();
        let fetch = || async { self.fetcher.fetch_page(url).await };
        let fetched = fetch
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(300))
                    .with_max_delay(Duration::from_secs(10))
                    .with_max_times(attempts.saturating_sub(1))
                    .with_jitter(),
            )
            .when(FetchError::is_transient)
            .adjust(|error, delay| {
                error
                    .retry_after()
                    .map(|ra| ra.min(Duration::from_secs(30)))
                    .or(delay)
            })
            .await;
        self.metrics
            .page_fetch_duration
            .observe(started.elapsed().as_secs_f64());
        let outcome = fetched.as_ref().map_or_else(FetchError::kind, |_| "ok");
        self.metrics
            .page_fetches
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        let page = match fetched {
            Ok(page) => page,
            Err(error) => {
                warn!(feed_id = %task.feed_id, url = %url, %error, "article page failed; publishing the feed's summary");
                return PageOutcome::Failed;
            }
        };
        let final_url = page.final_url.clone();
        let started = Instant::now();
        let extracted = self
            .on_cpu(move || {
                let html = extract::decode_html(&page.body, page.content_type.as_deref());
                extract::extract(&html, Some(&page.final_url))
            })
            .await;
        self.metrics
            .extraction_duration
            .observe(started.elapsed().as_secs_f64());
        match extracted {
            Ok(extracted) => PageOutcome::Extracted {
                extracted: Box::new(extracted),
                final_url,
            },
            Err(error) => {
                warn!(feed_id = %task.feed_id, url = %url, %error, "extraction task failed");
                PageOutcome::Failed
            }
        }
    }

    /// Applies the archive's retention (`store.archive_max_age`,
    /// `store.archive_max_bytes`).
    pub async fn prune_archive(&self) {
        let cutoff = self
            .config
            .store
            .archive_max_age
            .map(|age| Utc::now().timestamp_millis() - age.as_millis() as i64);
        let max_bytes = self.config.store.archive_max_bytes;
        match self
            .store
            .call(move |s| s.prune_archive(cutoff, max_bytes))
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(dropped = n, "archive retention applied"),
            Err(error) => warn!(%error, "cannot apply archive retention"),
        }
    }

    /// Runs CPU-heavy work (parsing, extraction) off the async threads, at
    /// most one job per core at a time.
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

    async fn feed_ref(&self, feed_id: &str, feed: Option<&FeedConfig>) -> FeedRef {
        let cached = self
            .feed_titles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(feed_id)
            .cloned();
        let title = match cached {
            Some(title) => title,
            None => {
                let id = feed_id.to_string();
                let title = self
                    .store
                    .call(move |s| s.feed_state(&id))
                    .await
                    .ok()
                    .flatten()
                    .and_then(|state| state.title);
                self.feed_titles
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(feed_id.to_string(), title.clone());
                title
            }
        };
        FeedRef {
            id: feed_id.to_string(),
            url: feed.map(|f| f.url.clone()).unwrap_or_default(),
            title,
        }
    }

    /// Publishes with retries; marks the story done only after the confirm.
    async fn deliver(&self, envelope: Envelope) -> Delivered {
        let mut refused = 0usize;
        // Capped at a few seconds so a broker that comes back is used again
        // within seconds, not after a long backoff.
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .with_max_times(usize::MAX)
            .build();
        loop {
            let sent_at = Instant::now();
            self.metrics.unconfirmed.inc();
            let result = self.sink.publish(&envelope).await;
            self.metrics.unconfirmed.dec();
            let outcome = result
                .as_ref()
                .map_or_else(PublishError::kind, |_| "published");
            self.metrics
                .messages
                .get_or_create(&OutcomeLabels { outcome })
                .inc();
            match result {
                Ok(()) => {
                    self.metrics
                        .confirm_latency
                        .observe(sent_at.elapsed().as_secs_f64());
                    break;
                }
                Err(error) => {
                    let refused_by_broker = matches!(
                        error,
                        PublishError::Returned { .. }
                            | PublishError::Nacked
                            | PublishError::Ambiguous { .. }
                    );
                    if refused_by_broker {
                        refused += 1;
                    }
                    if refused >= REFUSED_PUBLISH_ATTEMPTS || self.abort.is_cancelled() {
                        self.metrics.undelivered.inc();
                        warn!(%error, routing_key = %envelope.routing_key, message_id = %envelope.message_id, "message not delivered; the story stays unfinished and will be retried");
                        return Delivered::No;
                    }
                    let delay = backoff.next().unwrap_or(Duration::from_secs(5));
                    debug!(%error, retry_in = ?delay, "publish failed, retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.abort.cancelled() => {
                            self.metrics.undelivered.inc();
                            return Delivered::No;
                        }
                    }
                }
            }
        }
        let (id, revision) = (envelope.story_id.clone(), envelope.revision);
        match self
            .store
            .call(move |s| s.mark_published(&id, revision))
            .await
        {
            Ok(reopened) => Delivered::Yes(reopened.map(Box::new)),
            Err(error) => {
                // Confirmed but not recorded: the story will be re-sent with
                // the same message_id, which consumers drop.
                warn!(%error, "cannot mark story published");
                Delivered::Yes(None)
            }
        }
    }

    /// Polls one feed, records its items and queues the stories that need
    /// work. Returns when the feed is next due (Unix ms).
    async fn poll_and_enqueue(&self, index: usize, tx: &mpsc::Sender<Queued>) -> i64 {
        let feed = &self.config.feeds[index];
        let span = info_span!("poll", feed_id = %feed.id, url = %feed.url);
        let (tasks, next_due) = self.poll(feed).instrument(span).await;
        for task in tasks {
            self.enqueue(tx, StoryWork::Process(Box::new(task))).await;
        }
        next_due
    }

    async fn poll(&self, feed: &FeedConfig) -> (Vec<StoryTask>, i64) {
        let id = feed.id.clone();
        let previous = self
            .store
            .call(move |s| s.feed_state(&id))
            .await
            .ok()
            .flatten()
            .filter(|state| state.url == feed.url);
        let mut state = previous.unwrap_or_else(|| FeedState {
            feed_id: feed.id.clone(),
            url: feed.url.clone(),
            ..FeedState::default()
        });
        let validators = Validators {
            etag: state.etag.clone(),
            last_modified: state.last_modified.clone(),
        };
        let now = Utc::now().timestamp_millis();
        state.last_polled_ms = Some(now);
        let policy = IntervalPolicy::for_feed(&self.config, feed);
        let interval = policy.base(&state.pace, now);
        let url = match Url::parse(state.moved_url.as_deref().unwrap_or(&feed.url)) {
            Ok(url) => url,
            Err(_) => return (Vec::new(), now + interval.as_millis() as i64),
        };
        let started = Instant::now();
        let result = self.fetcher.fetch_feed(&url, &validators).await;
        let mut tasks = Vec::new();
        let mut label = "ok";
        let mut http_fresh_for = None;
        let outcome: Result<(), PollFailure> = match result {
            Ok(FeedResponse::NotModified {
                validators,
                moved_to,
                freshness,
            }) => {
                label = "not_modified";
                http_fresh_for = freshness.fresh_for();
                self.note_move(feed, &mut state, moved_to);
                state.etag = validators.etag;
                state.last_modified = validators.last_modified;
                state.last_status = Some("304".into());
                Ok(())
            }
            Ok(FeedResponse::Fetched {
                body,
                content_type,
                validators,
                final_url,
                moved_to,
                freshness,
            }) => {
                http_fresh_for = freshness.fresh_for();
                self.note_move(feed, &mut state, moved_to);
                let parsed = self
                    .on_cpu(move || {
                        feed::parse_feed(&body, content_type.as_deref(), Some(&final_url))
                    })
                    .await;
                match parsed {
                    Ok(Ok(parsed)) => match self.record(&feed.id, &parsed.items).await {
                        Ok(new) => {
                            tasks = new;
                            state.pace = Pace::of_items(&parsed.items, now);
                            state.ttl_ms = parsed.ttl_minutes.map(|m| i64::from(m) * 60_000);
                            state.skip = parsed.skip;
                            state.title = parsed.title.clone();
                            self.feed_titles
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(feed.id.clone(), parsed.title);
                            state.etag = validators.etag;
                            state.last_modified = validators.last_modified;
                            state.last_status = Some("200".into());
                            Ok(())
                        }
                        Err(error) => Err(PollFailure::new("store", format!("store: {error}"))),
                    },
                    Ok(Err(error)) => Err(PollFailure::new("parse", format!("parse: {error}"))),
                    Err(error) => Err(PollFailure::new("parse", format!("parse task: {error}"))),
                }
            }
            Err(error) => Err(PollFailure {
                kind: error.kind(),
                message: error.to_string(),
                retry_after: error.retry_after(),
                status: match error {
                    FetchError::Status { status, .. } => Some(status),
                    _ => None,
                },
            }),
        };
        match outcome {
            Ok(()) => {
                state.consecutive_failures = 0;
                state.last_error = None;
                let ttl = state
                    .ttl_ms
                    .map(|ms| Duration::from_millis(ms.max(0) as u64));
                let interval = policy.interval(&state.pace, ttl, http_fresh_for, now);
                state.next_due_ms = schedule::next_due(now, interval, state.skip);
            }
            Err(PollFailure {
                kind,
                message: error,
                retry_after,
                status,
            }) => {
                label = "error";
                self.metrics
                    .poll_errors
                    .get_or_create(&KindLabels { kind })
                    .inc();
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                let repeated_404 = status == Some(404)
                    && state.consecutive_failures >= DEAD_AFTER_404S
                    && matches!(state.last_status.as_deref(), Some("404" | DEAD));
                if status == Some(410) || repeated_404 {
                    error!(feed_id = %feed.id, url = %feed.url, %error, "feed is gone: marked dead, checked again daily");
                    state.last_status = Some(DEAD.into());
                    state.next_due_ms = now + DEAD_RECHECK.as_millis() as i64;
                } else {
                    let backoff = failure_backoff(
                        interval,
                        state.consecutive_failures,
                        self.config.poll.max_backoff,
                    );
                    let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
                    warn!(feed_id = %feed.id, url = %feed.url, %error, failures = state.consecutive_failures, retry_in = ?wait, "feed poll failed");
                    state.last_status = Some(status.map_or("error".into(), |s| s.to_string()));
                    state.next_due_ms = now + wait.as_millis() as i64;
                }
                state.last_error = Some(error);
            }
        }
        self.metrics.record_poll(&feed.id, label, started.elapsed());
        self.feed_health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(feed.id.clone(), FeedHealth::of(&state));
        let next_due = state.next_due_ms;
        if let Err(error) = self.store.call(move |s| s.save_feed_state(&state)).await {
            warn!(%error, "cannot save feed state");
        }
        (tasks, next_due)
    }

    /// A permanent redirect: poll the new URL from now on (kept in the store;
    /// the config still names the old one, which is what identifies the feed).
    fn note_move(&self, feed: &FeedConfig, state: &mut FeedState, moved_to: Option<Url>) {
        if let Some(moved) = moved_to
            && state.moved_url.as_deref() != Some(moved.as_str())
        {
            info!(feed_id = %feed.id, from = %feed.url, to = %moved, "feed moved permanently; polling the new URL");
            state.moved_url = Some(moved.to_string());
        }
    }

    /// Records one feed's items in the store (one transaction) and returns
    /// the stories that need work.
    async fn record(
        &self,
        feed_id: &str,
        items: &[FeedItem],
    ) -> Result<Vec<StoryTask>, store::StoreError> {
        self.metrics.add_items("seen", items.len() as u64);
        let document = identify(feed_id, items);
        let discovered: Vec<DiscoveredItem> = document
            .stories
            .into_iter()
            .map(|(index, identity)| DiscoveredItem {
                identity,
                fingerprint: item_fingerprint(&items[index]),
                item: items[index].clone(),
            })
            .collect();
        let (feed_id, ambiguous) = (feed_id.to_string(), document.ambiguous);
        let tasks = self
            .store
            .call(move |s| s.record_items(&feed_id, &discovered, &ambiguous))
            .await?;
        self.metrics.add_items("new", tasks.len() as u64);
        self.metrics
            .add_items("duplicate", items.len().saturating_sub(tasks.len()) as u64);
        debug!(items = items.len(), new = tasks.len(), "items recorded");
        Ok(tasks)
    }

    /// Ingests items from outside the live polls (a backfill) through the
    /// same dedup and the same messages, attributed to `feed_id`, and waits
    /// until they are published. Returns (new stories, undelivered).
    pub async fn ingest(
        self: &Arc<Self>,
        feed_id: &str,
        items: &[FeedItem],
    ) -> Result<(u64, u64), store::StoreError> {
        let (tx, rx) = mpsc::channel(self.config.pipeline.queue_capacity);
        let workers = tokio::spawn(Arc::clone(self).work(rx));
        let tasks = self.record(feed_id, items).await;
        let new = tasks.as_ref().map_or(0, |t| t.len() as u64);
        for task in tasks.iter().flatten() {
            self.enqueue(&tx, StoryWork::Process(Box::new(task.clone())))
                .await;
        }
        drop(tx);
        let _ = workers.await;
        tasks?;
        Ok((new, self.metrics.undelivered.get()))
    }
}

/// Why a poll failed: a kind for metrics, a message for logs.
struct PollFailure {
    kind: &'static str,
    message: String,
    retry_after: Option<Duration>,
    status: Option<u16>,
}

impl PollFailure {
    fn new(kind: &'static str, message: String) -> PollFailure {
        PollFailure {
            kind,
            message,
            retry_after: None,
            status: None,
        }
    }
}

/// `last_status` of a feed that is gone (410, or 404 again and again).
pub const DEAD: &str = "dead";
/// 404s in a row after which a feed is taken for gone.
const DEAD_AFTER_404S: u32 = 3;
/// A dead feed is still tried this often, so one that comes back recovers.
const DEAD_RECHECK: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedHealth {
    Healthy,
    BackingOff,
    Dead,
}

impl FeedHealth {
    fn of(state: &FeedState) -> FeedHealth {
        if state.last_status.as_deref() == Some(DEAD) {
            FeedHealth::Dead
        } else if state.consecutive_failures > 0 {
            FeedHealth::BackingOff
        } else {
            FeedHealth::Healthy
        }
    }
}

/// What building a story's message came to.
enum Built {
    /// A message to deliver (kept in the store as pending).
    Message(Envelope),
    /// Nothing to deliver now: unchanged, deferred or a store failure; with
    /// the story's new task when its item changed meanwhile.
    Nothing(Option<Box<StoryTask>>),
}

/// Whether a message reached the broker.
enum Delivered {
    /// Confirmed and marked; with the story's new task when its item
    /// changed while the message was on its way.
    Yes(Option<Box<StoryTask>>),
    /// Not delivered: the story stays unfinished and is retried later.
    No,
}

enum PageOutcome {
    Extracted {
        extracted: Box<Extracted>,
        final_url: Url,
    },
    Failed,
}

/// Builds the article message from the feed item and what the page gave.
fn compose(task: &StoryTask, page: Option<PageOutcome>, feed: FeedRef) -> ArticleMessage {
    let item: &FeedItem = &task.item;
    let feed_text = item
        .content_html
        .as_deref()
        .map(feed::html_to_text)
        .filter(|t| !t.trim().is_empty());
    let summary = item.summary.clone().filter(|s| !s.trim().is_empty());
    let fallback = || match (&feed_text, &summary) {
        (Some(text), _) => (text.clone(), Some(ExtractionMethod::FeedContent)),
        (None, Some(summary)) => (summary.clone(), Some(ExtractionMethod::FeedSummary)),
        (None, None) => (String::new(), None),
    };
    let identity_url = task.url.clone();
    let (extracted, final_url, status) = match page {
        Some(PageOutcome::Extracted {
            extracted,
            final_url,
        }) => {
            let status = if extracted.text.trim().is_empty() {
                ExtractionStatus::Empty
            } else {
                ExtractionStatus::Ok
            };
            (Some(*extracted), Some(final_url), status)
        }
        Some(PageOutcome::Failed) => (None, None, ExtractionStatus::Failed),
        None => (None, None, ExtractionStatus::Skipped),
    };
    let (text, method) = match &extracted {
        Some(e) if status == ExtractionStatus::Ok => (e.text.clone(), e.method),
        _ => fallback(),
    };
    let url = story_url(extracted.as_ref(), final_url.as_ref(), identity_url, item);
    let title = item
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| extracted.as_ref().and_then(|e| e.title.clone()));
    let hash = content_hash(title.as_deref(), &text);
    let revision = task.published_revision + 1;
    let e = extracted.as_ref();
    ArticleMessage {
        schema: SCHEMA_V1.into(),
        id: task.story_id.clone(),
        event: if revision == 1 {
            ArticleEvent::Created
        } else {
            ArticleEvent::Updated
        },
        revision,
        url,
        title,
        word_count: word_count(&text),
        text,
        summary,
        authors: e
            .map(|e| e.authors.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| item.authors.clone()),
        published_at: item.published.or(e.and_then(|e| e.published_at)),
        updated_at: e.and_then(|e| e.updated_at).or(item.updated),
        fetched_at: Utc::now(),
        language: e.and_then(|e| e.language.clone()),
        image: e
            .and_then(|e| e.image.clone())
            .or_else(|| item.image.clone())
            .filter(|i| i.starts_with("http://") || i.starts_with("https://")),
        feed,
        guid: item.guid.clone(),
        content_hash: hash,
        extraction: Extraction {
            status,
            method: method.map(method_name),
        },
    }
}

fn method_name(method: ExtractionMethod) -> String {
    match method {
        ExtractionMethod::SiteRule => "site_rule",
        ExtractionMethod::JsonLd => "json_ld",
        ExtractionMethod::Readability => "readability",
        ExtractionMethod::FeedContent => "feed_content",
        ExtractionMethod::FeedSummary => "feed_summary",
    }
    .into()
}

/// The story's URL: the page's canonical when it is on the same host as the
/// page (a canonical pointing elsewhere is a syndication copy or a spoof),
/// else the page's final URL after redirects, else the item's link; always
/// without tracking parameters.
fn story_url(
    extracted: Option<&Extracted>,
    final_url: Option<&Url>,
    identity_url: Option<String>,
    item: &FeedItem,
) -> String {
    if let (Some(canonical), Some(final_url)) = (
        extracted.and_then(|e| e.canonical_url.as_deref()),
        final_url,
    ) && let Ok(canonical) = final_url.join(canonical)
        && canonical.host_str() == final_url.host_str()
        && let Some(url) = normalize_url(canonical.as_str())
    {
        return url;
    }
    final_url
        .and_then(|u| normalize_url(u.as_str()))
        .or(identity_url)
        .or_else(|| item.link.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(item: FeedItem, revision: u32) -> StoryTask {
        StoryTask {
            story_id: "0123456789abcdef0123456789abcdef".into(),
            feed_id: "f".into(),
            url: item.link.as_deref().and_then(normalize_url),
            item,
            item_version: 0,
            published_revision: revision,
            published_hash: None,
            published_status: None,
        }
    }

    fn feed_ref() -> FeedRef {
        FeedRef {
            id: "f".into(),
            url: "https://x.example/feed".into(),
            title: None,
        }
    }

    #[test]
    fn failed_page_falls_back_to_summary() {
        let item = FeedItem {
            link: Some("https://x.example/a?utm_source=rss".into()),
            title: Some("Title".into()),
            summary: Some("The summary.".into()),
            ..FeedItem::default()
        };
        let m = compose(&task(item, 0), Some(PageOutcome::Failed), feed_ref());
        assert_eq!(m.extraction.status, ExtractionStatus::Failed);
        assert_eq!(m.extraction.method.as_deref(), Some("feed_summary"));
        assert_eq!(m.text, "The summary.");
        assert_eq!(m.url, "https://x.example/a");
        assert_eq!(m.event, ArticleEvent::Created);
        assert_eq!(m.revision, 1);
    }

    #[test]
    fn cross_host_canonical_is_ignored() {
        let final_url = Url::parse("https://mirror.example/a").unwrap();
        let extracted = Extracted {
            canonical_url: Some("https://origin.example/a".into()),
            ..Extracted::default()
        };
        let item = FeedItem::default();
        assert_eq!(
            story_url(Some(&extracted), Some(&final_url), None, &item),
            "https://mirror.example/a"
        );
        let same_host = Extracted {
            canonical_url: Some("/a-canonical?at_medium=RSS".into()),
            ..Extracted::default()
        };
        assert_eq!(
            story_url(Some(&same_host), Some(&final_url), None, &item),
            "https://mirror.example/a-canonical"
        );
    }

    #[test]
    fn updates_get_the_next_revision() {
        let item = FeedItem {
            link: Some("https://x.example/a".into()),
            summary: Some("s".into()),
            ..FeedItem::default()
        };
        let m = compose(&task(item, 2), None, feed_ref());
        assert_eq!(m.revision, 3);
        assert_eq!(m.event, ArticleEvent::Updated);
        assert_eq!(m.extraction.status, ExtractionStatus::Skipped);
    }
}
