//! One poll of one claimed feed: fetch (conditionally), parse, record the
//! items in the store, and plan the next poll through the feed's state
//! machine ([`FeedState::after_poll`]).

use std::time::Instant;

use chrono::Utc;
use tracing::{debug, error, info, warn};
use url::Url;

use super::Context;
use super::feeds::FeedBook;
use super::push;
use super::subscriptions::subscribe;
use crate::config::FeedConfig;
use crate::dedup::identify;
use crate::feed::{self, FeedItem};
use crate::fetch::{FeedResponse, FetchError, Validators};
use crate::ops::KindLabels;
use crate::schedule::{FeedState, Pace, PollOutcome, PollVerdict};
use crate::store::{DiscoveredItem, StoreError, StoryTask};

/// Polls one feed, claimed with its `state`, records its items and saves
/// the state (which releases the claim). Returns the stories that need
/// work, claimed for this worker.
pub(super) async fn poll_feed(
    ctx: &Context,
    feeds: &FeedBook,
    feed: &FeedConfig,
    state: FeedState,
) -> Vec<StoryTask> {
    let mut state = if state.url == feed.url {
        state
    } else {
        FeedState::new(&feed.id, &feed.url)
    };
    let now = Utc::now().timestamp_millis();
    debug!(
        due_ms_ago = now - state.next_due_ms,
        etag = state.etag.is_some(),
        "polling a claimed feed"
    );
    let policy = ctx.config.poll.policy_for(Some(feed));
    let started = Instant::now();
    let validators = Validators {
        etag: state.etag.clone(),
        last_modified: state.last_modified.clone(),
    };
    let (outcome, tasks) = match Url::parse(state.poll_url()) {
        Ok(url) => fetch_and_record(ctx, feeds, feed, &validators, &url, now).await,
        Err(error) => (
            PollOutcome::Failed {
                kind: "url",
                error: format!("feed URL: {error}"),
                status: None,
                retry_after: None,
            },
            Vec::new(),
        ),
    };
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
    // The next poll is planned from the end of this one: a feed that took
    // long to answer (or waited for its host) is not asked again at once.
    let verdict = state.after_poll(
        outcome,
        &policy,
        ctx.config.poll.max_backoff,
        Utc::now().timestamp_millis(),
        &mut fastrand::Rng::new(),
    );
    match verdict {
        PollVerdict::Dead => {
            error!(feed_id = %feed.id, url = %feed.url, %error, "feed is gone: marked dead, checked again daily");
        }
        PollVerdict::Failed { retry_in } => {
            warn!(feed_id = %feed.id, url = %feed.url, %error, failures = state.consecutive_failures, ?retry_in, "feed poll failed");
        }
        PollVerdict::Fetched | PollVerdict::NotModified => {
            if let Some(push) = &ctx.push {
                let now = Utc::now().timestamp_millis();
                state.next_due_ms = push.space_poll(&feed.id, state.next_due_ms, now);
            }
        }
    }
    ctx.metrics
        .record_poll(&feed.id, verdict.label(), started.elapsed());
    feeds.note_health(&state);
    ctx.feed_saves.save(ctx, state).await;
    tasks
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
            link_headers,
        }) => {
            let base = final_url.clone();
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
            if let Some(found) = push::wanted(ctx, &feed.id, &link_headers, &parsed.links, &base) {
                subscribe(ctx, &feed.id, found).await;
            }
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
        Err(error) => {
            if let FetchError::Interstitial(kind) = &error {
                ctx.metrics.add_blocked(kind.as_str());
            }
            (
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
            )
        }
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
        .map(|(index, identity)| DiscoveredItem::new(identity, &items[index]))
        .collect();
    let tasks = ctx
        .store
        .record_items(&ctx.claimant, feed_id, &discovered, &document.ambiguous)
        .await?;
    ctx.metrics.add_items("new", tasks.len() as u64);
    ctx.metrics
        .add_items("duplicate", items.len().saturating_sub(tasks.len()) as u64);
    debug!(items = items.len(), new = tasks.len(), "items recorded");
    Ok(tasks)
}
