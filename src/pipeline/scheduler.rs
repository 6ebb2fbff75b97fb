//! When feeds are polled: once each (`run --once`), or each when it is due
//! (`run`), at most `poll.concurrency` at a time, with a periodic sweep for
//! stories that no worker holds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tracing::{Instrument, info, info_span, warn};

use super::poll::{FeedBook, poll_feed};
use super::queue::{Intake, Workers};
use super::{Context, prune_archive};
use crate::store::StoryWork;

/// How often the long-running worker looks for unfinished stories that no
/// worker holds (a publish that gave up, a deferred update).
const RESWEEP_EVERY: Duration = Duration::from_secs(60);

/// An unfinished story untouched this long is taken up again by the sweep.
const STUCK_AFTER: Duration = Duration::from_secs(300);

/// Polls the feed at `index` of the config and queues its stories. Returns
/// when the feed is next due (Unix ms).
async fn poll_and_enqueue(ctx: &Context, feeds: &FeedBook, intake: &Intake, index: usize) -> i64 {
    let feed = &ctx.config.feeds[index];
    let span = info_span!("poll", feed_id = %feed.id, url = %feed.url);
    let (tasks, next_due) = poll_feed(ctx, feeds, feed).instrument(span).await;
    for task in tasks {
        intake.enqueue(StoryWork::Process(Box::new(task))).await;
    }
    next_due
}

/// Polls every feed once, processes every new story and waits for every
/// confirm (or the abort).
pub(super) async fn run_once(ctx: &Arc<Context>, feeds: &Arc<FeedBook>) {
    let workers = Workers::start(ctx, feeds);
    workers.intake.resume(i64::MAX).await;
    let mut polls = JoinSet::new();
    let slots = Arc::new(Semaphore::new(ctx.config.poll.concurrency));
    for index in 0..ctx.config.feeds.len() {
        if ctx.shutdown.is_cancelled() {
            break;
        }
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (ctx, feeds, intake) = (Arc::clone(ctx), Arc::clone(feeds), workers.intake.clone());
        polls.spawn(async move {
            let _slot = slot;
            poll_and_enqueue(&ctx, &feeds, &intake, index).await;
        });
        // Finished polls are reaped as we go, so 100,000 feeds do not leave
        // 100,000 finished tasks waiting.
        while polls.try_join_next().is_some() {}
    }
    // Polls in flight may wait on slow servers: the grace period bounds them.
    loop {
        tokio::select! {
            next = polls.join_next() => if next.is_none() { break },
            _ = ctx.abort.cancelled() => {
                polls.abort_all();
                break;
            }
        }
    }
    workers.finish().await;
}

/// Each feed's next due time, soonest first.
struct DueFeeds(BinaryHeap<Reverse<(i64, usize)>>);

impl DueFeeds {
    /// From the store's schedule: one read of every feed's state (per-feed
    /// reads would take seconds at 100,000 feeds); a feed the store does not
    /// know, or knows under another URL, is due now.
    async fn load(ctx: &Context) -> DueFeeds {
        let mut stored: HashMap<String, (String, i64)> = ctx
            .store
            .feed_states()
            .await
            .unwrap_or_else(|error| {
                warn!(%error, "cannot read the feeds' schedule; polling every feed now");
                Vec::new()
            })
            .into_iter()
            .map(|state| (state.feed_id, (state.url, state.next_due_ms)))
            .collect();
        let now = Utc::now().timestamp_millis();
        let heap = ctx
            .config
            .feeds
            .iter()
            .enumerate()
            .map(|(index, feed)| {
                let next = stored
                    .remove(&feed.id)
                    .filter(|(url, _)| *url == feed.url)
                    .map_or(now, |(_, at)| at);
                Reverse((next, index))
            })
            .collect();
        DueFeeds(heap)
    }

    /// The next feed due at or before `now`, taken off the heap.
    fn pop_due(&mut self, now: i64) -> Option<usize> {
        let Reverse((at, index)) = *self.0.peek()?;
        (at <= now).then(|| {
            self.0.pop();
            index
        })
    }

    fn push(&mut self, index: usize, at: i64) {
        self.0.push(Reverse((at, index)));
    }

    /// How long until the next feed is due, within [10 ms, 1 s].
    fn wait(&self, now: i64) -> Duration {
        let ms = self
            .0
            .peek()
            .map_or(1000, |Reverse((at, _))| (at - now).clamp(10, 1000));
        Duration::from_millis(ms as u64)
    }
}

/// The long-running worker: polls feeds when due until `shutdown`.
pub(super) async fn run_forever(ctx: &Arc<Context>, feeds: &Arc<FeedBook>) {
    let workers = Workers::start(ctx, feeds);
    workers.intake.resume(i64::MAX).await;
    let mut due = DueFeeds::load(ctx).await;
    let (done_tx, mut done_rx) = mpsc::channel::<(usize, i64)>(ctx.config.feeds.len().max(1));
    let slots = Arc::new(Semaphore::new(ctx.config.poll.concurrency));
    let mut sweep = tokio::time::interval(RESWEEP_EVERY);
    sweep.tick().await;
    loop {
        let now = Utc::now().timestamp_millis();
        // All slots busy: a finishing poll wakes the loop below.
        while let Ok(slot) = Arc::clone(&slots).try_acquire_owned() {
            let Some(index) = due.pop_due(now) else {
                break;
            };
            let (ctx, feeds, intake) = (Arc::clone(ctx), Arc::clone(feeds), workers.intake.clone());
            let done_tx = done_tx.clone();
            tokio::spawn(async move {
                let _slot = slot;
                let next = poll_and_enqueue(&ctx, &feeds, &intake, index).await;
                let _ = done_tx.send((index, next)).await;
            });
        }
        tokio::select! {
            _ = ctx.shutdown.cancelled() => break,
            Some((index, next)) = done_rx.recv() => due.push(index, next),
            _ = sweep.tick() => {
                // Only stories stuck for a while: a fresh one may belong to
                // another process (a backfill) working on the same store.
                let stuck_before = Utc::now().timestamp_millis() - STUCK_AFTER.as_millis() as i64;
                workers.intake.resume(stuck_before).await;
                prune_archive(ctx).await;
            }
            _ = tokio::time::sleep(due.wait(now)) => {}
        }
    }
    info!("shutting down: polling stopped, finishing in-flight stories");
    workers.finish().await;
}
