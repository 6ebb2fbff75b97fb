//! The worker's view of the feed list, which lives in the store: each
//! feed's settings (reloaded now and then, so `feeds add` reaches running
//! workers), its health for the feeds-by-state gauge, and its title for
//! messages.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tracing::warn;

use super::Context;
use crate::config::FeedConfig;
use crate::message::FeedRef;
use crate::ops::{Metrics, StateLabels};
use crate::schedule::{FeedHealth, FeedState};

#[derive(Default)]
pub(super) struct FeedBook {
    /// One entry per feed (100,000 of them should cost little).
    feeds: RwLock<HashMap<Box<str>, Entry>>,
}

struct Entry {
    spec: Arc<FeedConfig>,
    health: Option<FeedHealth>,
    /// `None` until read from a body or from the store.
    title: Option<Option<Box<str>>>,
}

impl FeedBook {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Entry>> {
        self.feeds.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Box<str>, Entry>> {
        self.feeds.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the feed list from the store, keeping what is known of the
    /// feeds still in it.
    pub async fn reload(&self, ctx: &Context) {
        match ctx.store.feeds().await {
            Ok(specs) => {
                let mut feeds = self.write();
                let mut next = HashMap::with_capacity(specs.len());
                for spec in specs {
                    let old = feeds.remove(spec.id.as_str());
                    next.insert(
                        spec.id.as_str().into(),
                        Entry {
                            spec: Arc::new(spec),
                            health: old.as_ref().and_then(|e| e.health),
                            title: old.and_then(|e| e.title),
                        },
                    );
                }
                *feeds = next;
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
        self.read().get(feed_id).map(|e| Arc::clone(&e.spec))
    }

    /// Every feed's id, in the list's order.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.read().keys().map(|k| k.to_string()).collect();
        ids.sort();
        ids
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
        let feeds = self.read();
        let count = |wanted| feeds.values().filter(|e| e.health == Some(wanted)).count() as i64;
        let (backing_off, dead) = (count(FeedHealth::BackingOff), count(FeedHealth::Dead));
        let healthy = feeds.len() as i64 - backing_off - dead;
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
        let known = self.read().get(feed_id).map(|e| {
            (
                e.spec.url.clone(),
                e.title.clone().map(|t| t.map(String::from)),
            )
        });
        let (url, title) = known.unwrap_or_default();
        let title = match title {
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
            url,
            title,
        }
    }

    pub fn note_title(&self, feed_id: &str, title: Option<String>) {
        if let Some(entry) = self.write().get_mut(feed_id) {
            entry.title = Some(title.map(String::into_boxed_str));
        }
    }

    pub fn note_health(&self, state: &FeedState) {
        if let Some(entry) = self.write().get_mut(state.feed_id.as_str()) {
            entry.health = Some(state.health());
        }
    }
}
