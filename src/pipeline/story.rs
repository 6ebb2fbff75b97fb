//! One story's work: fetch its page, extract the text, build the message
//! and keep it as pending, then hand it to delivery. A story whose item
//! changed meanwhile comes back from the store open again and is worked on
//! again right here.

use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use tracing::{info, warn};
use url::Url;

use super::Context;
use super::copies::mark_copies;
use super::deliver::{Delivered, deliver};
use super::feeds::FeedBook;
use crate::dedup::TextPrint;
use crate::extract;
use crate::fetch::FetchError;
use crate::message::{Draft, Envelope, PageOutcome, compose};
use crate::ops::OutcomeLabels;
use crate::store::{PendingMessage, StoryTask, StoryWork};

/// Rounds at a story's page (each with `fetch.page_attempts` tries), counted
/// in the store across restarts. After them a new story goes out with the
/// feed's text, and a published one keeps the revision it has: a page that
/// crashes the worker or stays down cannot hold a story forever.
const PAGE_ROUNDS: u32 = 5;

/// An update whose page is down is tried again after this.
const RETRY_DEFERRED: Duration = Duration::from_secs(300);

/// A message the broker would not take (or a story the store failed on) is
/// tried again after this.
const RETRY_UNDELIVERED: Duration = Duration::from_secs(60);

/// Lets go of a story that stays unfinished until `after` has passed.
async fn release(ctx: &Context, story_id: &str, after: Duration) {
    let until = chrono::Utc::now().timestamp_millis() + after.as_millis() as i64;
    if let Err(error) = ctx.store.release(story_id, until).await {
        warn!(%error, "cannot release the story; its claim will lapse");
    }
}

/// What building a story's message came to.
enum Built {
    /// A message to deliver (kept in the store as pending).
    Message(Envelope),
    /// Nothing to deliver now: unchanged or deferred; with the story's new
    /// task when its item changed meanwhile.
    Nothing(Option<Box<StoryTask>>),
    /// The store or the build failed: the story is let go, to be retried.
    Failed,
}

pub(super) async fn handle(ctx: &Context, feeds: &FeedBook, work: StoryWork, queued_at: Instant) {
    let started_at = Instant::now();
    let mut next = Some(work);
    while let Some(work) = next.take() {
        let envelope = match work {
            StoryWork::Republish(envelope) => envelope,
            StoryWork::Process(task) => {
                let story_id = task.story_id.clone();
                match build(ctx, feeds, *task).await {
                    Built::Message(envelope) => envelope,
                    Built::Nothing(reopened) => {
                        next = reopened.map(StoryWork::Process);
                        continue;
                    }
                    Built::Failed => {
                        release(ctx, &story_id, RETRY_UNDELIVERED).await;
                        continue;
                    }
                }
            }
        };
        let story_id = envelope.story_id.clone();
        match deliver(ctx, envelope).await {
            Delivered::Yes(reopened) => {
                if let Some(push) = &ctx.push {
                    push.published(ctx, &story_id);
                }
                ctx.metrics.story_latency.record(queued_at.elapsed());
                ctx.metrics.processing_latency.record(started_at.elapsed());
                next = reopened.map(StoryWork::Process);
            }
            // Cut short by the abort, the story stays claimed: the claim is
            // released when the worker signs off.
            Delivered::No if ctx.abort.is_cancelled() => {}
            Delivered::No => release(ctx, &story_id, RETRY_UNDELIVERED).await,
        }
    }
}

/// Fetches, extracts and builds the message; persists it as pending.
async fn build(ctx: &Context, feeds: &FeedBook, task: StoryTask) -> Built {
    let fetch_full_text = feeds.fetch_full_text(ctx, &task.feed_id);
    let link = task.item.link.as_deref().and_then(|l| Url::parse(l).ok());
    let mut rounds_spent = false;
    let page = match (&link, fetch_full_text) {
        (Some(url), true) => {
            let attempt = match ctx.store.begin_attempt(&task.story_id).await {
                Ok(attempt) => attempt,
                Err(error) => {
                    warn!(%error, "cannot count the page attempt; the story will be retried");
                    return Built::Failed;
                }
            };
            rounds_spent = attempt >= PAGE_ROUNDS;
            if attempt > PAGE_ROUNDS {
                // Tried (and perhaps crashed on) this page often enough.
                warn!(feed_id = %task.feed_id, url = %url, attempts = attempt - 1, "article page keeps failing; using the feed's text");
                Some(PageOutcome::Failed)
            } else {
                Some(fetch_and_extract(ctx, url, &task.feed_id).await)
            }
        }
        _ => None,
    };
    let feed_ref = feeds.feed_ref(ctx, &task.feed_id).await;
    // Rendering the feed's HTML is CPU work: off the async threads.
    let composed = {
        let task = task.clone();
        let duplicates = ctx.config.duplicates.enabled;
        ctx.on_cpu(move || {
            let draft = Draft {
                story_id: &task.story_id,
                item: &task.item,
                url: task.url.as_deref(),
                published_revision: task.published_revision,
            };
            let message = compose(&draft, page, feed_ref);
            // Only printed when copies are looked up at all.
            let print = duplicates.then(|| TextPrint::of(&message.text)).flatten();
            (message, print)
        })
        .await
    };
    let (mut message, print) = match composed {
        Ok(composed) => composed,
        Err(error) => {
            warn!(%error, "building the message failed; the story will be retried");
            return Built::Failed;
        }
    };
    let status = message.extraction.status;
    ctx.metrics
        .extractions
        .get_or_create(&OutcomeLabels {
            outcome: status.as_str(),
        })
        .inc();
    let unchanged = task.published_revision > 0
        && task.published_hash.as_deref() == Some(message.content_hash.as_str());
    // A revision never degrades what was published: with the page down, an
    // edited summary must not replace the full text.
    let worse = task
        .published_status
        .is_some_and(|published| !status.at_least_as_good_as(published));
    if worse && !rounds_spent {
        info!(story_id = %task.story_id, status = status.as_str(), "page unavailable for an update; the story stays open and is retried");
        release(ctx, &task.story_id, RETRY_DEFERRED).await;
        return Built::Nothing(None);
    }
    if unchanged || worse {
        if worse {
            warn!(story_id = %task.story_id, "page unavailable for an update after every attempt; keeping the published revision");
        }
        ctx.metrics.unchanged.inc();
        return match ctx
            .store
            .mark_unchanged(&task.story_id, task.item_version)
            .await
        {
            Ok(reopened) => Built::Nothing(reopened.map(Box::new)),
            Err(error) => {
                warn!(%error, "cannot mark story unchanged");
                Built::Failed
            }
        };
    }
    if let Err(error) = mark_copies(ctx, &mut message, print).await {
        warn!(%error, "cannot look the story's text up among earlier stories; the story will be retried");
        return Built::Failed;
    }
    let envelope = Envelope::new(&message, feeds.routing_key(ctx, &task.feed_id));
    let pending = PendingMessage {
        envelope,
        content_hash: message.content_hash,
        status,
        item_version: task.item_version,
    };
    if let Err(error) = ctx.store.save_pending(&pending).await {
        warn!(%error, "cannot persist the built message; the story will be retried");
        return Built::Failed;
    }
    Built::Message(pending.envelope)
}

async fn fetch_and_extract(ctx: &Context, url: &Url, feed_id: &str) -> PageOutcome {
    let attempts = ctx.config.fetch.page_attempts;
    let started = Instant::now();
    let fetch = || async { ctx.fetcher.fetch_page(url).await };
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
    ctx.metrics
        .page_fetch_duration
        .observe(started.elapsed().as_secs_f64());
    let outcome = fetched.as_ref().map_or_else(FetchError::kind, |_| "ok");
    ctx.metrics
        .page_fetches
        .get_or_create(&OutcomeLabels { outcome })
        .inc();
    let page = match fetched {
        Ok(page) => page,
        Err(FetchError::Interstitial(kind)) => {
            // The fetcher has blocked the host already (or it was blocked).
            ctx.metrics.add_blocked(kind.as_str());
            warn!(feed_id = %feed_id, url = %url, blocked_by = kind.as_str(), "article page blocked by the site; publishing the feed's text and leaving the host alone for a while");
            return PageOutcome::Blocked(kind);
        }
        Err(error) => {
            warn!(feed_id = %feed_id, url = %url, %error, "article page failed; publishing the feed's summary");
            return PageOutcome::Failed;
        }
    };
    let final_url = page.final_url.clone();
    let started = Instant::now();
    let extracted = ctx
        .on_cpu(move || {
            let html = extract::decode_html(&page.body, page.content_type.as_deref());
            extract::extract(&html, Some(&page.final_url))
        })
        .await;
    ctx.metrics
        .extraction_duration
        .observe(started.elapsed().as_secs_f64());
    match extracted {
        Ok(extracted) => {
            let page = PageOutcome::Extracted {
                extracted: Box::new(extracted),
                final_url,
            };
            if let Some(kind) = page.blocked_by() {
                // A wall found in the page: leave the site alone as for a
                // challenge named by headers (the host asked and the one the
                // wall was served from, when it redirected).
                ctx.fetcher.back_off(url, kind);
                if let PageOutcome::Extracted { final_url, .. } = &page
                    && final_url.host_str() != url.host_str()
                {
                    ctx.fetcher.back_off(final_url, kind);
                }
                ctx.metrics.add_blocked(kind.as_str());
                warn!(feed_id = %feed_id, url = %url, blocked_by = kind.as_str(), "article page is a wall, not the article; publishing the feed's text and leaving the host alone for a while");
            }
            page
        }
        Err(error) => {
            warn!(feed_id = %feed_id, url = %url, %error, "extraction task failed");
            PageOutcome::Failed
        }
    }
}
