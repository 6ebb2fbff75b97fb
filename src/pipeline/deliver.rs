//! Delivery of one built message: publish, wait for the confirm, retry
//! with backoff, and mark the story published only after the confirm.

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use tracing::{debug, warn};

use super::Context;
use crate::message::Envelope;
use crate::ops::OutcomeLabels;
use crate::publish::PublishError;
use crate::store::StoryTask;

/// Publish attempts for a message the broker refused (returned or nacked)
/// before the story is left for a later sweep.
const REFUSED_PUBLISH_ATTEMPTS: usize = 4;

/// Whether a message reached the broker.
pub(super) enum Delivered {
    /// Confirmed and marked; with the story's new task when its item
    /// changed while the message was on its way.
    Yes(Option<Box<StoryTask>>),
    /// Not delivered: the story stays unfinished and is retried later.
    No,
}

/// Publishes with retries; marks the story done only after the confirm.
pub(super) async fn deliver(ctx: &Context, envelope: Envelope) -> Delivered {
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
        ctx.metrics.unconfirmed.inc();
        let result = ctx.sink.publish(&envelope).await;
        ctx.metrics.unconfirmed.dec();
        let outcome = result
            .as_ref()
            .map_or_else(PublishError::kind, |_| "published");
        ctx.metrics
            .messages
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
        let error = match result {
            Ok(()) => {
                ctx.metrics
                    .confirm_latency
                    .observe(sent_at.elapsed().as_secs_f64());
                break;
            }
            Err(error) => error,
        };
        if matches!(
            error,
            PublishError::Returned { .. } | PublishError::Nacked | PublishError::Ambiguous { .. }
        ) {
            refused += 1;
        }
        if refused >= REFUSED_PUBLISH_ATTEMPTS || ctx.abort.is_cancelled() {
            ctx.metrics.undelivered.inc();
            warn!(%error, routing_key = %envelope.routing_key, message_id = %envelope.message_id, "message not delivered; the story stays unfinished and will be retried");
            return Delivered::No;
        }
        let delay = backoff.next().unwrap_or(Duration::from_secs(5));
        debug!(%error, retry_in = ?delay, "publish failed, retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = ctx.abort.cancelled() => {
                ctx.metrics.undelivered.inc();
                return Delivered::No;
            }
        }
    }
    match ctx
        .store
        .mark_published(&envelope.story_id, envelope.revision)
        .await
    {
        Ok(reopened) => Delivered::Yes(reopened.map(Box::new)),
        Err(error) => {
            // Confirmed but not recorded: the story will be re-sent with the
            // same message_id, which consumers drop, once its claim lapses.
            warn!(%error, "cannot mark story published");
            Delivered::Yes(None)
        }
    }
}
