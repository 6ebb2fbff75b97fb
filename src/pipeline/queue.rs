//! The bounded queue between polls and story workers, and the set of
//! stories queued or being worked on, so a sweep or a second feed never
//! doubles one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, info, info_span, warn};

use super::poll::FeedBook;
use super::{Context, story};
use crate::store::StoryWork;

/// A story on the queue, with when it was queued.
struct Queued {
    work: StoryWork,
    at: Instant,
}

/// Hands stories to the workers; cheap to clone (one per poll task).
#[derive(Clone)]
pub(super) struct Intake {
    tx: mpsc::Sender<Queued>,
    ctx: Arc<Context>,
    in_flight: Arc<Mutex<HashSet<String>>>,
}

/// Running story workers and the way to hand them stories.
pub(super) struct Workers {
    pub intake: Intake,
    handle: JoinHandle<()>,
}

impl Workers {
    /// Starts the workers: `pipeline.story_concurrency` stories at a time
    /// from a queue of `pipeline.queue_capacity`.
    pub fn start(ctx: &Arc<Context>, feeds: &Arc<FeedBook>) -> Workers {
        let (tx, rx) = mpsc::channel(ctx.config.pipeline.queue_capacity);
        let in_flight = Arc::new(Mutex::new(HashSet::new()));
        let intake = Intake {
            tx,
            ctx: Arc::clone(ctx),
            in_flight: Arc::clone(&in_flight),
        };
        let handle = tokio::spawn(work(Arc::clone(ctx), Arc::clone(feeds), in_flight, rx));
        Workers { intake, handle }
    }

    /// Lets the queue drain and waits for every story in flight (or the
    /// abort).
    pub async fn finish(self) {
        drop(self.intake);
        let _ = self.handle.await;
    }
}

impl Intake {
    /// Queues a story unless a worker holds it already; waits while the
    /// queue is full, so polling slows to what the workers take.
    pub async fn enqueue(&self, work: StoryWork) {
        let story_id = work.story_id().to_string();
        if !lock(&self.in_flight).insert(story_id.clone()) {
            return;
        }
        let metrics = &self.ctx.metrics;
        metrics.stories_queued.inc();
        let queued = Queued {
            work,
            at: Instant::now(),
        };
        let sent = tokio::select! {
            sent = self.tx.send(queued) => sent.is_ok(),
            _ = self.ctx.abort.cancelled() => false,
        };
        if !sent {
            metrics.stories_queued.dec();
            lock(&self.in_flight).remove(&story_id);
        }
    }

    /// Queues every unfinished story whose state last changed at or before
    /// `changed_before_ms` and that no worker holds.
    pub async fn resume(&self, changed_before_ms: i64) {
        match self.ctx.store.unfinished(changed_before_ms).await {
            Ok(work) => {
                if !work.is_empty() {
                    info!(stories = work.len(), "resuming unfinished stories");
                }
                for item in work {
                    if self.ctx.shutdown.is_cancelled() {
                        return;
                    }
                    self.enqueue(item).await;
                }
            }
            Err(error) => warn!(%error, "cannot read unfinished stories"),
        }
    }
}

fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|p| p.into_inner())
}

/// Takes stories off the queue, `story_concurrency` at a time.
async fn work(
    ctx: Arc<Context>,
    feeds: Arc<FeedBook>,
    in_flight: Arc<Mutex<HashSet<String>>>,
    mut rx: mpsc::Receiver<Queued>,
) {
    let slots = Arc::new(Semaphore::new(ctx.config.pipeline.story_concurrency));
    let mut running = JoinSet::new();
    loop {
        let queued = tokio::select! {
            queued = rx.recv() => queued,
            _ = ctx.abort.cancelled() => None,
        };
        let Some(Queued { work, at }) = queued else {
            break;
        };
        ctx.metrics.stories_queued.dec();
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let (ctx, feeds, in_flight) =
            (Arc::clone(&ctx), Arc::clone(&feeds), Arc::clone(&in_flight));
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
            ctx.metrics.stories_in_flight.inc();
            tokio::select! {
                biased;
                _ = story::handle(&ctx, &feeds, work, at).instrument(span) => {}
                // Left unfinished in the store: counted, resumed next start.
                _ = ctx.abort.cancelled() => {
                    ctx.metrics.undelivered.inc();
                }
            }
            ctx.metrics.stories_in_flight.dec();
            lock(&in_flight).remove(&story_id);
        });
        while running.try_join_next().is_some() {}
    }
    // Stories still queued when the grace period ended: counted as not
    // delivered (they stay unfinished in the store).
    rx.close();
    while let Ok(Queued { work, .. }) = rx.try_recv() {
        ctx.metrics.stories_queued.dec();
        ctx.metrics.undelivered.inc();
        lock(&in_flight).remove(work.story_id());
    }
    while running.join_next().await.is_some() {}
}
