//! The worker's metrics, exported at `/metrics` in the Prometheus text
//! format (every family prefixed `feedwire_`), and read by the run summary.
//!
//! Per-feed labels multiply series by the number of feeds, so they exist
//! only while that stays bounded (`[ops] per_feed_metrics`, and never above
//! [`PER_FEED_LIMIT`] feeds).

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::LatencyHistogram;

/// Above this many feeds, per-feed labels are dropped whatever the config says.
pub const PER_FEED_LIMIT: usize = 1000;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeedOutcomeLabels {
    pub feed_id: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

fn seconds_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric of one worker process.
pub struct Metrics {
    registry: Registry,
    /// Turned off when the feed list turns out to be long (read from the
    /// store after the metrics are up).
    per_feed: std::sync::atomic::AtomicBool,
    /// Feed polls by outcome: `ok`, `not_modified`, `error`.
    pub polls: Family<OutcomeLabels, Counter>,
    /// Failed polls by error kind (`http_status`, `timeout`, `parse`, ...).
    pub poll_errors: Family<KindLabels, Counter>,
    feed_polls: Family<FeedOutcomeLabels, Counter>,
    pub poll_duration: Histogram,
    /// Feed items by kind: `seen`, `new`, `duplicate`.
    pub items: Family<KindLabels, Counter>,
    /// Article page fetches by outcome: `ok` or the error kind.
    pub page_fetches: Family<OutcomeLabels, Counter>,
    pub page_fetch_duration: Histogram,
    /// Fetches (pages and feeds) a site answered with a challenge or a
    /// consent wall, or that were not sent while their host was blocked,
    /// by kind (`fetch::BlockKind`'s wire words).
    pub blocked: Family<KindLabels, Counter>,
    /// Extractions by status: `ok`, `empty`, `failed`, `skipped`, `blocked`.
    pub extractions: Family<OutcomeLabels, Counter>,
    pub extraction_duration: Histogram,
    /// Publish attempts by outcome: `published`, `returned`, `nacked`,
    /// `confirm_timeout`, `connection_error`.
    pub messages: Family<OutcomeLabels, Counter>,
    pub confirm_latency: Histogram,
    /// Stories found unchanged when looked at again (nothing published).
    pub unchanged: Counter,
    /// Stories whose publish gave up for now; they stay unfinished.
    pub undelivered: Counter,
    pub stories_in_flight: Gauge,
    pub stories_queued: Gauge,
    pub unconfirmed: Gauge,
    pub broker_connected: Gauge,
    pub feeds: Family<StateLabels, Gauge>,
    pub store_size_bytes: Gauge,
    /// Workers heard of within a lease, this one included.
    pub workers: Gauge,
    /// WebSub subscriptions by state (`subscribing`, `active`, `lapsed`,
    /// `denied`, `unsubscribing`), as the store holds them.
    pub push_subscriptions: Family<StateLabels, Gauge>,
    /// Notifications from hubs by outcome: `accepted`, `bad_signature`,
    /// `unknown_topic`, `busy` (answered 503, the hub sends it again).
    pub push_notifications: Family<OutcomeLabels, Counter>,
    /// From a notification's arrival to the confirm of a story it brought.
    pub push_to_publish: Histogram,
    /// Not exported: percentiles for the run summary and the benchmark.
    pub story_latency: LatencyHistogram,
    pub processing_latency: LatencyHistogram,
}

impl Metrics {
    pub fn new(per_feed_labels: bool) -> Metrics {
        let mut registry = Registry::with_prefix("feedwire");
        let m = Metrics {
            per_feed: std::sync::atomic::AtomicBool::new(per_feed_labels),
            polls: Family::default(),
            poll_errors: Family::default(),
            feed_polls: Family::default(),
            poll_duration: seconds_histogram(),
            items: Family::default(),
            page_fetches: Family::default(),
            page_fetch_duration: seconds_histogram(),
            blocked: Family::default(),
            extractions: Family::default(),
            extraction_duration: seconds_histogram(),
            messages: Family::default(),
            confirm_latency: seconds_histogram(),
            unchanged: Counter::default(),
            undelivered: Counter::default(),
            stories_in_flight: Gauge::default(),
            stories_queued: Gauge::default(),
            unconfirmed: Gauge::default(),
            broker_connected: Gauge::default(),
            feeds: Family::default(),
            store_size_bytes: Gauge::default(),
            workers: Gauge::default(),
            push_subscriptions: Family::default(),
            push_notifications: Family::default(),
            push_to_publish: seconds_histogram(),
            story_latency: LatencyHistogram::default(),
            processing_latency: LatencyHistogram::default(),
            registry: Registry::default(),
        };
        registry.register("polls", "Feed polls by outcome", m.polls.clone());
        registry.register(
            "poll_errors",
            "Failed feed polls by error kind",
            m.poll_errors.clone(),
        );
        if per_feed_labels {
            registry.register(
                "feed_polls",
                "Feed polls by feed and outcome",
                m.feed_polls.clone(),
            );
        }
        registry.register_with_unit(
            "poll_duration",
            "Time to fetch and parse one feed",
            Unit::Seconds,
            m.poll_duration.clone(),
        );
        registry.register(
            "items",
            "Feed items seen, new and duplicate",
            m.items.clone(),
        );
        registry.register(
            "page_fetches",
            "Article page fetches by outcome",
            m.page_fetches.clone(),
        );
        registry.register_with_unit(
            "page_fetch_duration",
            "Time to fetch one article page, retries included",
            Unit::Seconds,
            m.page_fetch_duration.clone(),
        );
        // Every kind from the start (at 0), so a first block shows as a change.
        for kind in crate::fetch::BlockKind::ALL {
            m.blocked
                .get_or_create(&KindLabels {
                    kind: kind.as_str(),
                })
                .inc_by(0);
        }
        registry.register(
            "blocked_fetches",
            "Fetches answered with an anti-bot challenge or a consent wall, by kind",
            m.blocked.clone(),
        );
        registry.register(
            "extractions",
            "Stories by extraction status",
            m.extractions.clone(),
        );
        registry.register_with_unit(
            "extraction_duration",
            "Time to decode and extract one page",
            Unit::Seconds,
            m.extraction_duration.clone(),
        );
        registry.register(
            "messages",
            "Publish attempts by outcome",
            m.messages.clone(),
        );
        registry.register_with_unit(
            "confirm_latency",
            "From publish to broker confirm",
            Unit::Seconds,
            m.confirm_latency.clone(),
        );
        registry.register(
            "stories_unchanged",
            "Stories looked at again whose title and text had not changed",
            m.unchanged.clone(),
        );
        registry.register(
            "stories_undelivered",
            "Stories whose publish gave up for now (retried later)",
            m.undelivered.clone(),
        );
        registry.register(
            "workers",
            "Workers sharing the store, heard of within a lease",
            m.workers.clone(),
        );
        registry.register(
            "stories_in_flight",
            "Stories being fetched, extracted or published",
            m.stories_in_flight.clone(),
        );
        registry.register(
            "stories_queued",
            "Stories waiting for a worker",
            m.stories_queued.clone(),
        );
        registry.register(
            "unconfirmed_messages",
            "Messages published and awaiting the broker's confirm",
            m.unconfirmed.clone(),
        );
        registry.register(
            "broker_connected",
            "1 while connected to the broker",
            m.broker_connected.clone(),
        );
        registry.register("feeds", "Configured feeds by state", m.feeds.clone());
        registry.register(
            "push_subscriptions",
            "WebSub subscriptions by state",
            m.push_subscriptions.clone(),
        );
        registry.register(
            "push_notifications",
            "WebSub notifications by outcome",
            m.push_notifications.clone(),
        );
        registry.register_with_unit(
            "push_to_publish",
            "From a WebSub notification to the confirm of a story it brought",
            Unit::Seconds,
            m.push_to_publish.clone(),
        );
        registry.register_with_unit(
            "store_size",
            "Size of the store's files",
            Unit::Bytes,
            m.store_size_bytes.clone(),
        );
        let build: Family<BuildLabels, Gauge> = Family::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "Build information", build);
        Metrics { registry, ..m }
    }

    /// Keeps per-feed labels only while there are at most [`PER_FEED_LIMIT`]
    /// feeds; returns whether they are on.
    pub fn limit_per_feed_labels(&self, feeds: usize) -> bool {
        let ordering = std::sync::atomic::Ordering::Relaxed;
        if feeds > PER_FEED_LIMIT {
            self.per_feed.store(false, ordering);
        }
        self.per_feed.load(ordering)
    }

    pub fn record_poll(&self, feed_id: &str, outcome: &'static str, took: Duration) {
        self.polls.get_or_create(&OutcomeLabels { outcome }).inc();
        if self.per_feed.load(std::sync::atomic::Ordering::Relaxed) {
            self.feed_polls
                .get_or_create(&FeedOutcomeLabels {
                    feed_id: feed_id.to_string(),
                    outcome,
                })
                .inc();
        }
        self.poll_duration.observe(took.as_secs_f64());
    }

    pub fn count(&self, family: &Family<OutcomeLabels, Counter>, outcome: &'static str) -> u64 {
        family.get_or_create(&OutcomeLabels { outcome }).get()
    }

    pub fn add_items(&self, kind: &'static str, n: u64) {
        self.items.get_or_create(&KindLabels { kind }).inc_by(n);
    }

    pub fn add_blocked(&self, kind: &'static str) {
        self.blocked.get_or_create(&KindLabels { kind }).inc();
    }

    /// Blocked fetches by kind, the most frequent first: `kind n, ...`.
    fn blocked_summary(&self) -> String {
        let mut kinds: Vec<(&'static str, u64)> = Vec::new();
        for kind in crate::fetch::BlockKind::ALL {
            let n = self
                .blocked
                .get_or_create(&KindLabels {
                    kind: kind.as_str(),
                })
                .get();
            if n > 0 {
                kinds.push((kind.as_str(), n));
            }
        }
        kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let total: u64 = kinds.iter().map(|k| k.1).sum();
        let named: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        if named.is_empty() {
            "blocked 0".to_string()
        } else {
            format!("blocked {total} ({})", named.join(", "))
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// One line for logs and `run --once`.
    pub fn summary(&self) -> String {
        let ms = |h: &LatencyHistogram, q: f64| {
            h.quantile(q)
                .map_or("-".to_string(), |d| format!("{}ms", d.as_millis()))
        };
        let item = |kind| self.items.get_or_create(&KindLabels { kind }).get();
        format!(
            "polls: {} ok, {} not modified, {} failed; items seen {}, new {}; published {}, unchanged {}, page failures {}, {}, undelivered {}; story latency p50 {} p99 {}",
            self.count(&self.polls, "ok"),
            self.count(&self.polls, "not_modified"),
            self.count(&self.polls, "error"),
            item("seen"),
            item("new"),
            self.count(&self.messages, "published"),
            self.unchanged.get(),
            self.count(&self.extractions, "failed"),
            self.blocked_summary(),
            self.undelivered.get(),
            ms(&self.story_latency, 0.5),
            ms(&self.story_latency, 0.99),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_prefixed_families() {
        let m = Metrics::new(true);
        m.record_poll("bbc-world", "ok", Duration::from_millis(20));
        m.add_items("seen", 3);
        m.messages
            .get_or_create(&OutcomeLabels {
                outcome: "published",
            })
            .inc();
        let text = m.encode();
        assert!(
            text.contains("feedwire_polls_total{outcome=\"ok\"} 1"),
            "{text}"
        );
        assert!(text.contains("feedwire_feed_polls_total{feed_id=\"bbc-world\",outcome=\"ok\"} 1"));
        assert!(text.contains("feedwire_items_total{kind=\"seen\"} 3"));
        assert!(text.contains("feedwire_messages_total{outcome=\"published\"} 1"));
        assert!(text.contains("feedwire_build_info{version="));
        assert!(text.contains("# TYPE feedwire_poll_duration_seconds histogram"));
        assert!(m.summary().contains("published 1"));
        assert!(m.summary().contains("blocked 0"), "{}", m.summary());
    }

    #[test]
    fn blocked_fetches_by_kind() {
        let m = Metrics::new(false);
        m.add_blocked("consent_wall");
        m.add_blocked("cloudflare_challenge");
        m.add_blocked("cloudflare_challenge");
        let text = m.encode();
        assert!(
            text.contains("feedwire_blocked_fetches_total{kind=\"cloudflare_challenge\"} 2"),
            "{text}"
        );
        assert!(text.contains("feedwire_blocked_fetches_total{kind=\"consent_wall\"} 1"));
        assert!(
            m.summary()
                .contains("blocked 3 (cloudflare_challenge 2, consent_wall 1)"),
            "{}",
            m.summary()
        );
    }

    #[test]
    fn per_feed_labels_can_be_switched_off() {
        let m = Metrics::new(false);
        m.record_poll("bbc-world", "ok", Duration::from_millis(20));
        assert!(!m.encode().contains("bbc-world"));
        let m = Metrics::new(true);
        assert!(m.limit_per_feed_labels(PER_FEED_LIMIT));
        assert!(!m.limit_per_feed_labels(PER_FEED_LIMIT + 1));
        m.record_poll("bbc-world", "ok", Duration::from_millis(20));
        assert!(!m.encode().contains("bbc-world"));
    }
}
