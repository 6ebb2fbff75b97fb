//! `feeds check`: what the worker would make of one feed — each item's
//! identity and whether the store knows it, the feed's HTTP caching facts,
//! and when it would be polled next — as a report the binary prints.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use url::Url;

use crate::config::{Config, PollConfig};
use crate::dedup::identify;
use crate::feed::{FeedError, FeedFormat, parse_feed};
use crate::fetch::{FeedResponse, FetchError, Fetcher, Validators};
use crate::schedule::{Pace, not_skipped};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0} is not a file and not a URL")]
    Target(String),
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("unexpected 304 to an unconditional GET")]
    NotModified,
    #[error(transparent)]
    Feed(#[from] FeedError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One item as the worker sees it.
#[derive(Debug, Serialize)]
pub struct ItemCheck {
    pub key: String,
    pub story_id: String,
    pub url: Option<String>,
    pub guid: Option<String>,
    pub title: Option<String>,
    pub published: Option<String>,
    pub updated: Option<String>,
    /// Whether the store has never seen the story (`None` without a store).
    pub new: Option<bool>,
    /// An earlier item of the document that is the same story.
    pub same_story_as_item: Option<usize>,
}

/// What the feed document says about itself.
#[derive(Debug, Serialize)]
pub struct FeedFacts {
    pub format: FeedFormat,
    pub title: Option<String>,
    pub language: Option<String>,
    pub items: usize,
    pub ttl_minutes: Option<u32>,
    pub skip_hours: Vec<u32>,
    pub skip_days_from_monday: Vec<u32>,
    pub median_item_gap_seconds: Option<i64>,
    pub links: Vec<(String, String)>,
    /// Keys several different items share: never used to match a story.
    pub ambiguous_keys: Vec<String>,
}

/// The response's caching facts (a URL target only).
#[derive(Debug, Serialize)]
pub struct HttpFacts {
    pub status: u16,
    pub final_url: String,
    pub moved_permanently_to: Option<String>,
    pub content_type: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub date: Option<String>,
    pub fresh_for_seconds: Option<u64>,
    pub conditional_get: bool,
}

/// The host group whose politeness budget (requests in flight, spacing,
/// `Retry-After` and block pauses) the feed's requests spend.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct GroupFacts {
    pub name: String,
    /// `registrable domain`, `fetch.host_groups` or `host` (no domain).
    pub source: &'static str,
}

/// Where the feed's publisher pushes updates (WebSub).
#[derive(Debug, Serialize)]
pub struct WebSubFacts {
    pub hubs: Vec<String>,
    pub topic: String,
}

/// The plan after this poll, as the worker would make it (without jitter).
#[derive(Debug, Serialize)]
pub struct FeedSummary {
    pub feed: FeedFacts,
    pub http: Option<HttpFacts>,
    /// The URL target's host group (none for a file).
    pub host_group: Option<GroupFacts>,
    /// The WebSub hubs and topic the feed names (`[push]` subscribes there).
    pub websub: Option<WebSubFacts>,
    pub interval_seconds: u64,
    pub next_poll: String,
}

#[derive(Debug)]
pub struct FeedCheck {
    pub items: Vec<ItemCheck>,
    pub summary: FeedSummary,
}

/// Checks a feed URL or a feed file. Uses the config's fetch settings, poll
/// policy and feed id when given (else the defaults), and the store to tell
/// new stories from known ones.
pub async fn check_feed(
    target: &str,
    config: Option<&Config>,
    store: Option<&dyn Store>,
) -> Result<FeedCheck, CheckError> {
    let mut host_group = None;
    let mut link_headers = Vec::new();
    let (body, content_type, base, http) = if std::path::Path::new(target).exists() {
        let body = std::fs::read(target).map_err(|source| CheckError::Read {
            path: target.to_string(),
            source,
        })?;
        (body, None, None, None)
    } else {
        let url = Url::parse(target).map_err(|_| CheckError::Target(target.to_string()))?;
        let fetch_config = config.map(|c| c.fetch.clone()).unwrap_or_default();
        let fetcher = Fetcher::new(&fetch_config)?;
        host_group = fetcher.host_group(&url).map(|group| GroupFacts {
            name: group.name().to_string(),
            source: group.source(),
        });
        match fetcher.fetch_feed(&url, &Validators::default()).await? {
            FeedResponse::Fetched {
                body,
                content_type,
                validators,
                freshness,
                final_url,
                moved_to,
                link_headers: links,
            } => {
                link_headers = links;
                let http = HttpFacts {
                    status: 200,
                    final_url: final_url.to_string(),
                    moved_permanently_to: moved_to.as_ref().map(Url::to_string),
                    content_type: content_type.clone(),
                    conditional_get: validators.etag.is_some()
                        || validators.last_modified.is_some(),
                    etag: validators.etag,
                    last_modified: validators.last_modified,
                    fresh_for_seconds: freshness.fresh_for().map(|d| d.as_secs()),
                    cache_control: freshness.cache_control,
                    expires: freshness.expires,
                    date: freshness.date,
                };
                (body, content_type, Some(final_url), Some(http))
            }
            FeedResponse::NotModified { .. } => return Err(CheckError::NotModified),
        }
    };
    let parsed = parse_feed(&body, content_type.as_deref(), base.as_ref())?;
    let headers: Vec<&str> = link_headers.iter().map(String::as_str).collect();
    // A file's links are absolute already: any base serves.
    let file_base = Url::parse("file:///").expect("a valid URL");
    let websub =
        crate::push::discover(&headers, &parsed.links, base.as_ref().unwrap_or(&file_base)).map(
            |found| WebSubFacts {
                hubs: found.hubs.iter().map(Url::to_string).collect(),
                topic: found.topic.to_string(),
            },
        );
    let feed = config.and_then(|c| c.feeds.iter().find(|f| f.url == target));
    let document = identify(feed.map_or("check", |f| f.id.as_str()), &parsed.items);
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339());
    let mut items = Vec::with_capacity(parsed.items.len());
    for (index, item) in parsed.items.iter().enumerate() {
        let (first, identity) = &document.stories[document.story_of_item[index]];
        let new = match store {
            Some(store) => Some(store.lookup(identity).await?.is_none()),
            None => None,
        };
        items.push(ItemCheck {
            key: identity.key.clone(),
            story_id: identity.story_id(),
            url: identity.url.clone(),
            guid: item.guid.clone(),
            title: item.title.clone(),
            published: time(item.published),
            updated: time(item.updated),
            new,
            same_story_as_item: (*first != index).then_some(*first),
        });
    }
    let poll = config.map_or_else(PollConfig::default, |c| c.poll.clone());
    let policy = poll.policy_for(feed);
    let now = Utc::now().timestamp_millis();
    let pace = Pace::of_items(&parsed.items, now);
    let ttl = parsed
        .ttl_minutes
        .map(|m| Duration::from_secs(u64::from(m) * 60));
    let fresh_for = http
        .as_ref()
        .and_then(|h| h.fresh_for_seconds)
        .map(Duration::from_secs);
    let interval = policy.interval(&pace, ttl, fresh_for, now);
    let next_poll = not_skipped(now + interval.as_millis() as i64, parsed.skip);
    let bits = |mask: u32, n: u32| (0..n).filter(|b| mask & (1 << b) != 0).collect::<Vec<_>>();
    let summary = FeedSummary {
        feed: FeedFacts {
            format: parsed.format,
            title: parsed.title,
            language: parsed.language,
            items: parsed.items.len(),
            ttl_minutes: parsed.ttl_minutes,
            skip_hours: bits(parsed.skip.hours, 24),
            skip_days_from_monday: bits(u32::from(parsed.skip.days), 7),
            median_item_gap_seconds: pace.median_gap_ms.map(|ms| ms / 1000),
            links: parsed.links,
            ambiguous_keys: document.ambiguous,
        },
        http,
        host_group,
        websub,
        interval_seconds: interval.as_secs(),
        next_poll: DateTime::from_timestamp_millis(next_poll)
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::Secs, true),
    };
    Ok(FeedCheck { items, summary })
}
