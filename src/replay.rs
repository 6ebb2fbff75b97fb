//! Replay: re-publish archived messages for a consumer that needs history.
//!
//! Messages go out in their original publishing order, with their original
//! `message_id` and the header `x-feedwire-replay: true`, to the routing key
//! or exchange the operator names, so only the backfilling consumer's queue
//! receives them. A replay that is interrupted resumes where it stopped when
//! started again with the same options.

use std::cell::Cell;
use std::collections::HashSet;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use sha2::{Digest, Sha256};

use crate::message::Envelope;
use crate::publish::{AmqpSink, Destination, PublishError};
use crate::store::{ArchivedMessage, Store, StoreError};

/// Messages read from the store at a time.
const PAGE: usize = 500;
/// Messages published in order on one channel before their confirms are
/// awaited.
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
    /// Published at or after.
    pub since: Option<TimeBound>,
    /// Published at or before.
    pub until: Option<TimeBound>,
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
        // The bounds as the operator wrote them: `36h` names the same
        // replay tomorrow, though it resolves to another time.
        hasher.update(format!(
            "{feeds:?}|{:?}|{:?}|{ids:?}|{:?}",
            self.since, self.until, self.target
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
    store: &dyn Store,
    sink: Option<&AmqpSink>,
    options: &ReplayOptions,
    mut progress: impl FnMut(u64, u64),
) -> Result<ReplaySummary, ReplayError> {
    let key = options.resume_key();
    let resumed_after = match sink {
        Some(_) => store.replay_position(&key).await?,
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
    let now = chrono::Utc::now().timestamp_millis();
    let since = options.since.map(|b| b.resolve(now));
    let until = options.until.map(|b| b.resolve(now));
    loop {
        let page = store.archived(after, since, until, PAGE).await?;
        let Some(last) = page.last() else { break };
        let page_end = last.seq;
        summary.scanned += page.len() as u64;
        let selected: Vec<ArchivedMessage> =
            page.into_iter().filter(|m| options.matches(m)).collect();
        summary.matched += selected.len() as u64;
        if let Some(sink) = sink {
            for window in selected.chunks(WINDOW) {
                if let Some(pace) = pace.as_mut() {
                    for _ in window {
                        pace.tick().await;
                    }
                }
                let done = send(sink, window, &destination).await?;
                // In order: everything up to `done` is confirmed.
                store.save_replay_position(&key, Some(done)).await?;
                progress(summary.scanned, summary.matched);
            }
            store.save_replay_position(&key, Some(page_end)).await?;
        }
        progress(summary.scanned, summary.matched);
        after = page_end;
    }
    if sink.is_some() {
        // Done: the same command later starts a new replay from the start.
        store.save_replay_position(&key, None).await?;
    }
    Ok(summary)
}

/// Sends one window of messages in order, again from the first one that
/// failed, until all are confirmed; returns the archive position of the
/// last. A returned message stops the replay: nothing is bound to the
/// target, so retrying will not help, and the operator must know.
async fn send(
    sink: &AmqpSink,
    window: &[ArchivedMessage],
    destination: &Destination,
) -> Result<i64, ReplayError> {
    let envelopes: Vec<Envelope> = window.iter().map(|m| m.envelope.clone()).collect();
    // Messages confirmed so far, in order; a retry starts after them.
    let start = Cell::new(0);
    let attempt = || async {
        let results = sink
            .publish_ordered(&envelopes[start.get()..], destination)
            .await;
        let confirmed = results.iter().take_while(|r| r.is_ok()).count();
        start.set(start.get() + confirmed);
        match results.into_iter().find_map(Result::err) {
            None => Ok(()),
            Some(error) => Err(error),
        }
    };
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_max_times(ATTEMPTS - 1),
        )
        .when(|error| !matches!(error, PublishError::Returned { .. }))
        .await
        .map_err(|source| ReplayError::Publish {
            message_id: window[start.get()].envelope.message_id.clone(),
            source,
        })?;
    Ok(window[window.len() - 1].seq)
}

/// A `--since` / `--until` bound: a time, or a duration before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBound {
    /// Unix milliseconds.
    At(i64),
    /// This long before the moment the command runs.
    Ago(Duration),
}

impl TimeBound {
    /// Unix milliseconds, with `now_ms` as the present.
    pub fn resolve(self, now_ms: i64) -> i64 {
        match self {
            TimeBound::At(ms) => ms,
            TimeBound::Ago(ago) => now_ms.saturating_sub(ago.as_millis() as i64),
        }
    }
}

/// Parses a time for `--since` / `--until`: RFC 3339, a date
/// (`2026-04-14`, midnight UTC), or a duration meaning that long ago (`36h`).
pub fn parse_time(text: &str) -> Result<TimeBound, String> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(TimeBound::At(t.timestamp_millis()));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(TimeBound::At(
            date.and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc().timestamp_millis())
                .unwrap_or(0),
        ));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        return Ok(TimeBound::Ago(ago));
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
            since: None,
            until: None,
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
        // `--since 36h` run again later is the same replay, so it resumes.
        let mut d = a.clone();
        d.since = Some(parse_time("36h").unwrap());
        let key = d.resume_key();
        std::thread::sleep(Duration::from_millis(5));
        d.since = Some(parse_time("36h").unwrap());
        assert_eq!(key, d.resume_key());
        assert_ne!(key, a.resume_key());
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("1970-01-02").unwrap(), TimeBound::At(86_400_000));
        assert_eq!(
            parse_time("1970-01-01T00:00:01Z").unwrap(),
            TimeBound::At(1000)
        );
        let ago = parse_time("1h").unwrap();
        assert_eq!(ago, TimeBound::Ago(Duration::from_secs(3600)));
        assert_eq!(ago.resolve(10_000_000), 10_000_000 - 3_600_000);
        assert!(parse_time("yesterday-ish").is_err());
    }
}
