//! Feed states saved after their polls by group commit: a poll that ends
//! while another poll's save is in the store waits for it, then saves
//! every state that gathered meanwhile in one transaction. At full speed
//! that is one commit for dozens of polls; a lone poll saves at once.

use std::sync::Mutex;

use tracing::warn;

use super::{Context, lock};
use crate::schedule::FeedState;

/// The worker's group commit of feed states, so that the store's cost of
/// a poll is a row, not a transaction. A batch whose poll task is aborted
/// mid-commit is lost like a single save was: those feeds' claims lapse and
/// they are polled again.
#[derive(Default)]
pub(super) struct FeedSaves {
    /// States waiting for the next commit.
    waiting: Mutex<Vec<FeedState>>,
    /// Held while a batch is in the store: one commit at a time.
    committing: tokio::sync::Mutex<()>,
}

impl FeedSaves {
    /// Saves `state` (and releases the feed's claim); returns once it is
    /// in the store, or its batch failed (logged here).
    pub async fn save(&self, ctx: &Context, state: FeedState) {
        lock(&self.waiting).push(state);
        let _turn = self.committing.lock().await;
        let batch = std::mem::take(&mut *lock(&self.waiting));
        // Empty: the batch before took this state, and its commit ended
        // before this turn began.
        if batch.is_empty() {
            return;
        }
        if let Err(error) = ctx.store.save_feed_states(&batch).await {
            let feed_ids: Vec<&str> = batch.iter().map(|s| s.feed_id.as_str()).collect();
            warn!(%error, ?feed_ids, "cannot save feed states; their claims lapse and they are polled again");
        }
    }
}
