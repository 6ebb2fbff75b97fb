//! The bounded queue between polls and story workers. A story is queued
//! only if this worker does not hold it already (see [`super::Held`]), so
//! a sweep or a second feed never doubles one.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tracing::{Instrument, info, info_span, warn};

use super::feeds::FeedBook;
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
        let intake = Intake {
            tx,
            ctx: Arc::clone(ctx),
        };
        let handle = tokio::spawn(work(Arc::clone(ctx), Arc::clone(feeds), rx));
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
    /// Queues claimed stories, each unless this worker holds it already;
    /// waits while the queue is full, so polling slows to what the workers
    /// take. All are marked held first, so the heartbeat keeps their claims
    /// alive while they wait.
    pub async fn enqueue_all(&self, works: Vec<StoryWork>) {
        let works: Vec<StoryWork> = works
            .into_iter()
            .filter(|work| self.ctx.held.take_story(work.story_id()))
            .collect();
        let mut works = works.into_iter();
        while let Some(work) = works.next() {
            if !self.send(work).await {
                // Aborted: what was not queued is let go with the rest.
                for work in works.by_ref() {
                    self.ctx.held.drop_story(work.story_id());
                }
            }
        }
    }

    pub async fn enqueue(&self, work: StoryWork) {
        self.enqueue_all(vec![work]).await;
    }

    /// Puts one held story on the queue; false when the queue is gone or
    /// the abort came first (the story is no longer held then).
    async fn send(&self, work: StoryWork) -> bool {
        let story_id = work.story_id().to_string();
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
            self.ctx.held.drop_story(&story_id);
        }
        sent
    }

    /// Claims every unfinished story that no worker holds and queues it, a
    /// queue's worth at a time; with `waiting_too`, also those whose retry
    /// time has not come (a one-off run retries everything left).
    pub async fn resume(&self, waiting_too: bool) {
        let batch = self.ctx.config.pipeline.queue_capacity.max(1);
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            let claimed = match self
                .ctx
                .store
                .claim_unfinished(&self.ctx.claimant, now, batch, waiting_too)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    warn!(%error, "cannot claim unfinished stories");
                    return;
                }
            };
            if !claimed.is_empty() {
                info!(stories = claimed.len(), "resuming unfinished stories");
            }
            let done = claimed.len() < batch;
            self.enqueue_all(claimed).await;
            if done || self.ctx.shutdown.is_cancelled() {
                return;
            }
        }
    }
}

/// Takes stories off the queue, `story_concurrency` at a time.
async fn work(ctx: Arc<Context>, feeds: Arc<FeedBook>, mut rx: mpsc::Receiver<Queued>) {
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
        let (ctx, feeds) = (Arc::clone(&ctx), Arc::clone(&feeds));
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
            ctx.held.drop_story(&story_id);
        });
        while running.try_join_next().is_some() {}
    }
    // Stories still queued when the grace period ended: counted as not
    // delivered (they stay unfinished in the store).
    rx.close();
    while let Ok(Queued { work, .. }) = rx.try_recv() {
        ctx.metrics.stories_queued.dec();
        ctx.metrics.undelivered.inc();
        ctx.held.drop_story(work.story_id());
    }
    while running.join_next().await.is_some() {}
}
