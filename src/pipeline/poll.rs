//! One poll of one feed: fetch (conditionally), parse, record the items in
//! the store, and plan the next poll through the feed's state machine
//! ([`FeedState::after_poll`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chrono::Utc;
use tracing::{debug, error, info, warn};
use url::Url;

use super::Context;
use crate::config::FeedConfig;
use crate::dedup::{identify, item_fingerprint};
use crate::feed::{self, FeedItem};
use crate::fetch::{FeedResponse, FetchError, Validators};
use crate::message::FeedRef;
use crate::ops::{KindLabels, Metrics, StateLabels};
use crate::schedule::{FeedHealth, FeedState, Pace, PollOutcome, PollVerdict};
use crate::store::{DiscoveredItem, StoreError, StoryTask};

/// What the worker knows of its feeds between polls: each one's health (for
/// the feeds-by-state gauge) and title (for messages).
#[derive(Default)]
pub(super) struct FeedBook {
    health: Mutex<HashMap<String, FeedHealth>>,
    titles: Mutex<HashMap<String, Option<String>>>,
}

impl FeedBook {
    pub fn refresh_gauge(&self, metrics: &Metrics, feeds: usize) {
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
    pub async fn feed_ref(
        &self,
        ctx: &Context,
        feed_id: &str,
        feed: Option<&FeedConfig>,
    ) -> FeedRef {
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
            url: feed.map(|f| f.url.clone()).unwrap_or_default(),
            title,
        }
    }

    fn note_title(&self, feed_id: &str, title: Option<String>) {
        self.titles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(feed_id.to_string(), title);
    }

    fn note_health(&self, state: &FeedState) {
        self.health
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(state.feed_id.clone(), state.health());
    }
}

/// Polls one feed and records its items. Returns the stories that need
/// work and when the feed is next due (Unix ms).
pub(super) async fn poll_feed(
    ctx: &Context,
    feeds: &FeedBook,
    feed: &FeedConfig,
) -> (Vec<StoryTask>, i64) {
    let mut state = ctx
        .store
        .feed_state(&feed.id)
        .await
        .ok()
        .flatten()
        .filter(|state| state.url == feed.url)
        .unwrap_or_else(|| FeedState::new(&feed.id, &feed.url));
    let now = Utc::now().timestamp_millis();
    let policy = ctx.config.poll.policy_for(Some(feed));
    let Ok(url) = Url::parse(state.poll_url()) else {
        return (
            Vec::new(),
            now + policy.base(&state.pace, now).as_millis() as i64,
        );
    };
    let started = Instant::now();
    let validators = Validators {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    };
    let (outcome, tasks) = fetch_and_record(ctx, feeds, feed, &validators, &url, now).await;
    if let PollOutcome::Fetched {
        moved_to: Some(to), ..
    }
    | PollOutcome::NotModified {
        moved_to: Some(to), ..
    } = &outcome
        && state.moved_url.as_deref() != Some(to.as_str())
    {
        info!(feed_id = %feed.id, from = %feed.url, to = %to, "feed moved permanently; polling the new URL");
    }
    if let PollOutcome::Failed { kind, .. } = &outcome {
        ctx.metrics
            .poll_errors
            .get_or_create(&KindLabels { kind })
            .inc();
    }
    let error = match &outcome {
        PollOutcome::Failed { error, .. } => error.clone(),
        _ => String::new(),
    };
    let verdict = state.after_poll(
        outcome,
        &policy,
        ctx.config.poll.max_backoff,
        now,
        &mut fastrand::Rng::new(),
    );
    match verdict {
        PollVerdict::Dead => {
            error!(feed_id = %feed.id, url = %feed.url, %error, "feed is gone: marked dead, checked again daily");
        }
        PollVerdict::Failed { retry_in } => {
            warn!(feed_id = %feed.id, url = %feed.url, %error, failures = state.consecutive_failures, ?retry_in, "feed poll failed");
        }
        PollVerdict::Fetched | PollVerdict::NotModified => {}
    }
    ctx.metrics
        .record_poll(&feed.id, verdict.label(), started.elapsed());
    feeds.note_health(&state);
    let next_due = state.next_due_ms;
    if let Err(error) = ctx.store.save_feed_state(&state).await {
        warn!(%error, "cannot save feed state");
    }
    (tasks, next_due)
}

/// Fetches the feed and, when it changed, parses and records it.
async fn fetch_and_record(
    ctx: &Context,
    feeds: &FeedBook,
    feed: &FeedConfig,
    validators: &Validators,
    url: &Url,
    now: i64,
) -> (PollOutcome, Vec<StoryTask>) {
    let failed = |kind, error: String| PollOutcome::Failed {
        kind,
        error,
        status: None,
        retry_after: None,
    };
    match ctx.fetcher.fetch_feed(url, validators).await {
        Ok(FeedResponse::NotModified {
            validators,
            moved_to,
            freshness,
        }) => (
            PollOutcome::NotModified {
                etag: validators.etag,
                last_modified: validators.last_modified,
                moved_to: moved_to.map(String::from),
                fresh_for: freshness.fresh_for(),
            },
            Vec::new(),
        ),
        Ok(FeedResponse::Fetched {
            body,
            content_type,
            validators,
            final_url,
            moved_to,
            freshness,
        }) => {
            let parsed = ctx
                .on_cpu(move || feed::parse_feed(&body, content_type.as_deref(), Some(&final_url)))
                .await;
            let parsed = match parsed {
                Ok(Ok(parsed)) => parsed,
                Ok(Err(error)) => return (failed("parse", format!("parse: {error}")), Vec::new()),
                Err(error) => {
                    return (failed("parse", format!("parse task: {error}")), Vec::new());
                }
            };
            let tasks = match record(ctx, &feed.id, &parsed.items).await {
                Ok(tasks) => tasks,
                Err(error) => return (failed("store", format!("store: {error}")), Vec::new()),
            };
            feeds.note_title(&feed.id, parsed.title.clone());
            let outcome = PollOutcome::Fetched {
                etag: validators.etag,
                last_modified: validators.last_modified,
                moved_to: moved_to.map(String::from),
                fresh_for: freshness.fresh_for(),
                title: parsed.title,
                pace: Pace::of_items(&parsed.items, now),
                ttl: parsed
                    .ttl_minutes
                    .map(|m| std::time::Duration::from_secs(u64::from(m) * 60)),
                skip: parsed.skip,
            };
            (outcome, tasks)
        }
        Err(error) => (
            PollOutcome::Failed {
                kind: error.kind(),
                error: error.to_string(),
                status: match error {
                    FetchError::Status { status, .. } => Some(status),
                    _ => None,
                },
                retry_after: error.retry_after(),
            },
            Vec::new(),
        ),
    }
}

/// Records one feed document's items in the store (one transaction) and
/// returns the stories that need work.
pub(super) async fn record(
    ctx: &Context,
    feed_id: &str,
    items: &[FeedItem],
) -> Result<Vec<StoryTask>, StoreError> {
    ctx.metrics.add_items("seen", items.len() as u64);
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
    let tasks = ctx
        .store
        .record_items(feed_id, &discovered, &document.ambiguous)
        .await?;
    ctx.metrics.add_items("new", tasks.len() as u64);
    ctx.metrics
        .add_items("duplicate", items.len().saturating_sub(tasks.len()) as u64);
    debug!(items = items.len(), new = tasks.len(), "items recorded");
    Ok(tasks)
}
