//! Replay: re-publish archived messages for a consumer that needs history.
//!
//! Messages go out in their original publishing order, with their original
//! `message_id` and the header `x-feedwire-replay: true`, to the routing key
//! or exchange the operator names, so only the backfilling consumer's queue
//! receives them. A replay that is interrupted resumes where it stopped when
//! started again with the same options.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::publish::{AmqpSink, Destination, PublishError};
use crate::store::{ArchivedMessage, StoreError, StoreHandle};

/// Messages read from the store at a time.
const PAGE: usize = 500;
/// Publishes awaiting their confirm at once.
const WINDOW: usize = 64;
/// Attempts for one message before the replay stops (it can be resumed).
const ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("publishing message {message_id}: {source}")]
    Publish {
        message_id: String,
        source: PublishError,
    },
}

/// Where replayed messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayTarget {
    /// The configured exchange, under this routing key.
    RoutingKey(String),
    /// This exchange, under each message's original routing key.
    Exchange(String),
}

/// Which archived messages to replay, and how.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Only these feeds (all when empty).
    pub feeds: Vec<String>,
    /// Published at or after (Unix ms).
    pub since_ms: Option<i64>,
    /// Published at or before (Unix ms).
    pub until_ms: Option<i64>,
    /// Only these story ids.
    pub ids: Option<HashSet<String>>,
    pub target: ReplayTarget,
    /// Messages per second at most.
    pub rate: Option<f64>,
}

impl ReplayOptions {
    fn matches(&self, message: &ArchivedMessage) -> bool {
        (self.feeds.is_empty() || self.feeds.contains(&message.feed_id))
            && self
                .ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&message.envelope.story_id))
    }

    /// Names this replay, so the same command resumes it after an interruption.
    pub fn resume_key(&self) -> String {
        let mut hasher = Sha256::new();
        let mut feeds = self.feeds.clone();
        feeds.sort();
        let mut ids: Vec<&String> = self.ids.iter().flatten().collect();
        ids.sort();
        hasher.update(format!(
            "{feeds:?}|{:?}|{:?}|{ids:?}|{:?}",
            self.since_ms, self.until_ms, self.target
        ));
        format!("replay:{}", crate::dedup::hex(&hasher.finalize()[..12]))
    }

    fn destination(&self) -> Destination {
        match &self.target {
            ReplayTarget::RoutingKey(key) => Destination {
                exchange: None,
                routing_key: Some(key.clone()),
                replay: true,
            },
            ReplayTarget::Exchange(exchange) => Destination {
                exchange: Some(exchange.clone()),
                routing_key: None,
                replay: true,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// Archived messages looked at (in the time window).
    pub scanned: u64,
    /// Messages that matched the filters (published, or would be on a dry run).
    pub matched: u64,
    /// Archive position this run resumed after, if it resumed.
    pub resumed_after: Option<i64>,
}

/// Runs a replay. With `sink = None` it is a dry run: it counts what would be
/// sent and publishes nothing. `progress(scanned, matched)` is called as it goes.
pub async fn replay(
    store: &StoreHandle,
    sink: Option<&AmqpSink>,
    options: &ReplayOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplaySummary, ReplayError> {
    let key = options.resume_key();
    let resumed_after = match sink {
        Some(_) => {
            let key = key.clone();
            store.call(move |s| s.replay_position(&key)).await?
        }
        None => None,
    };
    let mut summary = ReplaySummary {
        resumed_after,
        ..ReplaySummary::default()
    };
    let destination = options.destination();
    let spacing = options
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let mut pace = spacing.map(|s| {
        let mut interval = tokio::time::interval(s);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    });
    let mut after = resumed_after.unwrap_or(0);
    loop {
        let (since, until) = (options.since_ms, options.until_ms);
        let page = store
            .call(move |s| s.archived(after, since, until, PAGE))
            .await?;
        let Some(last) = page.last() else { break };
        let page_end = last.seq;
        summary.scanned += page.len() as u64;
        let selected: Vec<ArchivedMessage> =
            page.into_iter().filter(|m| options.matches(m)).collect();
        summary.matched += selected.len() as u64;
        if let Some(sink) = sink {
            let mut sends = futures_util::stream::iter(selected.into_iter().map(|message| {
                let destination = &destination;
                async move { (message.seq, send(sink, &message, destination).await) }
            }))
            .buffered(WINDOW);
            while let Some((seq, result)) = sends.next().await {
                result?;
                // In order: everything up to `seq` is confirmed.
                if let Some(pace) = pace.as_mut() {
                    pace.tick().await;
                }
                let key = key.clone();
                store
                    .call(move |s| s.save_replay_position(&key, Some(seq)))
                    .await?;
                progress(summary.scanned, summary.matched);
            }
            let key = key.clone();
            store
                .call(move |s| s.save_replay_position(&key, Some(page_end)))
                .await?;
        }
        progress(summary.scanned, summary.matched);
        after = page_end;
    }
    if sink.is_some() {
        // Done: the same command later starts a new replay from the start.
        store
            .call(move |s| s.save_replay_position(&key, None))
            .await?;
    }
    Ok(summary)
}

async fn send(
    sink: &AmqpSink,
    message: &ArchivedMessage,
    destination: &Destination,
) -> Result<(), ReplayError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match sink.publish_to(&message.envelope, destination).await {
            Ok(()) => return Ok(()),
            // Returned means nothing is bound to the target: retrying will
            // not help, and the operator must know.
            Err(error @ PublishError::Returned { .. }) => {
                return Err(ReplayError::Publish {
                    message_id: message.envelope.message_id.clone(),
                    source: error,
                });
            }
            Err(error) if attempt >= ATTEMPTS => {
                return Err(ReplayError::Publish {
                    message_id: message.envelope.message_id.clone(),
                    source: error,
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await,
        }
    }
}

/// Parses a time for `--since` / `--until`: RFC 3339, a date
/// (`2026-04-14`, midnight UTC), or a duration meaning that long ago (`36h`).
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or(0));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(chrono::Utc::now().timestamp_millis() - ago.as_millis() as i64);
    }
    Err(format!(
        "`{text}` is not a time: use RFC 3339 (2026-04-14T08:00:00Z), a date (2026-04-14) or a duration ago (36h)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(target: ReplayTarget) -> ReplayOptions {
        ReplayOptions {
            feeds: vec![],
            since_ms: None,
            until_ms: None,
            ids: None,
            target,
            rate: None,
        }
    }

    #[test]
    fn resume_key_follows_the_options() {
        let a = options(ReplayTarget::RoutingKey("replay.x".into()));
        let mut b = a.clone();
        assert_eq!(a.resume_key(), b.resume_key());
        b.feeds = vec!["bbc-world".into()];
        assert_ne!(a.resume_key(), b.resume_key());
        let c = options(ReplayTarget::Exchange("other".into()));
        assert_ne!(a.resume_key(), c.resume_key());
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("1970-01-02").unwrap(), 86_400_000);
        assert_eq!(parse_time("1970-01-01T00:00:01Z").unwrap(), 1000);
        let ago = parse_time("1h").unwrap();
        let expected = chrono::Utc::now().timestamp_millis() - 3_600_000;
        assert!((ago - expected).abs() < 60_000);
        assert!(parse_time("yesterday-ish").is_err());
    }
}
