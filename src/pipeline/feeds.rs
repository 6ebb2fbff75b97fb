//! The worker's view of the feed list, which lives in the store: each
//! feed's settings (reloaded now and then, so `feeds add` reaches running
//! workers), its health for the feeds-by-state gauge, and its title for
//! messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tracing::warn;

use super::Context;
use crate::config::FeedConfig;
use crate::message::FeedRef;
use crate::ops::{Metrics, StateLabels};
use crate::schedule::{FeedHealth, FeedState};

#[derive(Default)]
pub(super) struct FeedBook {
    specs: RwLock<HashMap<String, Arc<FeedConfig>>>,
    health: Mutex<HashMap<String, FeedHealth>>,
    titles: Mutex<HashMap<String, Option<String>>>,
}

impl FeedBook {
    /// Reads the feed list from the store.
    pub async fn reload(&self, ctx: &Context) {
        match ctx.store.feeds().await {
            Ok(feeds) => {
                let specs = feeds
                    .into_iter()
                    .map(|feed| (feed.id.clone(), Arc::new(feed)))
                    .collect();
                *self.specs.write().unwrap_or_else(|p| p.into_inner()) = specs;
            }
            Err(error) => warn!(%error, "cannot read the feed list; keeping the one loaded"),
        }
    }

    /// One feed's settings, reloading the list once when it is not there
    /// (added since the last reload).
    pub async fn spec(&self, ctx: &Context, feed_id: &str) -> Option<Arc<FeedConfig>> {
        if let Some(spec) = self.cached(feed_id) {
            return Some(spec);
        }
        self.reload(ctx).await;
        self.cached(feed_id)
    }

    fn cached(&self, feed_id: &str) -> Option<Arc<FeedConfig>> {
        self.specs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(feed_id)
            .cloned()
    }

    /// Every feed's id, in the list's order.
    pub fn ids(&self) -> Vec<String> {
        let specs = self.specs.read().unwrap_or_else(|p| p.into_inner());
        let mut ids: Vec<String> = specs.keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn len(&self) -> usize {
        self.specs.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The routing key of a feed's messages.
    pub fn routing_key(&self, ctx: &Context, feed_id: &str) -> String {
        let spec = self.cached(feed_id);
        ctx.config.broker.routing_key_for(feed_id, spec.as_deref())
    }

    /// Whether a feed's stories get their page fetched.
    pub fn fetch_full_text(&self, ctx: &Context, feed_id: &str) -> bool {
        let spec = self.cached(feed_id);
        ctx.config.pipeline.fetch_full_text_for(spec.as_deref())
    }

    pub fn refresh_gauge(&self, metrics: &Metrics) {
        let feeds = self.len();
        let health = self.health.lock().unwrap_or_else(|p| p.into_inner());
        let count = |wanted| health.values().filter(|&&h| h == wanted).count() as i64;
        let (backing_off, dead) = (count(FeedHealth::BackingOff), count(FeedHealth::Dead));
        let healthy = feeds as i64 - backing_off - dead;
        for (health, value) in [
            (FeedHealth::Healthy, healthy),
            (FeedHealth::BackingOff, backing_off),
            (FeedHealth::Dead, dead),
        ] {
            metrics
                .feeds
                .get_or_create(&StateLabels {
                    state: health.as_str(),
                })
                .set(value);
        }
    }

    /// The feed as a message names it; its title from the last parsed body
    /// (read from the store once after a restart).
    pub async fn feed_ref(&self, ctx: &Context, feed_id: &str) -> FeedRef {
        let cached = self
            .titles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(feed_id)
            .cloned();
        let title = match cached {
            Some(title) => title,
            None => {
                let title = ctx
                    .store
                    .feed_state(feed_id)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|state| state.title);
                self.note_title(feed_id, title.clone());
                title
            }
        };
        FeedRef {
            id: feed_id.to_string(),
            url: self
                .cached(feed_id)
                .map(|f| f.url.clone())
                .unwrap_or_default(),
            title,
        }
    }

    pub fn note_title(&self, feed_id: &str, title: Option<String>) {
        self.titles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(feed_id.to_string(), title);
    }

    pub fn note_health(&self, state: &FeedState) {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(state.feed_id.clone(), state.health());
    }
}
