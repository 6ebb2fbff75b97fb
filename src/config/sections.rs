//! The config's sections, with their defaults.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::contact::ContactUrl;
use super::host_groups::{HostGroups, HostName};
use crate::schedule::IntervalPolicy;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerConfig {
    pub url: String,
    #[serde(default = "default_exchange")]
    pub exchange: String,
    /// Routing key template; `{feed_id}` is replaced by the feed's id.
    #[serde(default = "default_routing_key")]
    pub routing_key: String,
    /// How long to wait for one publisher confirm before treating it as lost.
    #[serde(default = "default_confirm_timeout", with = "super::duration")]
    pub confirm_timeout: Duration,
    /// Queues declared (durable, quorum) and bound at start-up, so messages
    /// published before any consumer exists are kept.
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    #[serde(default = "default_binding")]
    pub binding: String,
    /// `quorum` (a work queue), `stream` (append-only history any number of
    /// consumers read from any offset) or `classic`.
    #[serde(rename = "type", default)]
    pub kind: QueueKind,
    /// Streams: history older than this is dropped (`"7d"`).
    #[serde(
        default,
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
    /// Streams: history is kept within this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length_bytes: Option<u64>,
}

/// The RabbitMQ queue types feedwire declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueKind {
    #[default]
    Quorum,
    Stream,
    Classic,
}

impl QueueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueKind::Quorum => "quorum",
            QueueKind::Stream => "stream",
            QueueKind::Classic => "classic",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The embedded SQLite store (one worker), used unless `url` is set.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// A PostgreSQL store (`postgres://user:pass@host/db?sslmode=require`)
    /// that several workers share; `FEEDWIRE_STORE_URL` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Connections to PostgreSQL per worker.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// A worker's claims on feeds and stories lapse this long after its last
    /// heartbeat (it beats every third of it); then others take them over.
    #[serde(default = "default_lease", with = "super::duration")]
    pub lease: Duration,
    /// Published messages older than this are dropped from the archive
    /// (replay cannot send them any more).
    #[serde(
        default = "default_archive_max_age",
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub archive_max_age: Option<Duration>,
    /// The archive's message bodies are kept under this many bytes, oldest
    /// dropped first.
    #[serde(
        default = "default_archive_max_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub archive_max_bytes: Option<u64>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty store config uses defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    /// Lifts the guard against loopback/private/link-local targets.
    #[serde(default)]
    pub allow_private_networks: bool,
    /// With `allow_private_networks`, only these private networks (CIDR)
    /// are allowed; empty allows all of them.
    #[serde(default)]
    pub private_networks: Vec<ipnet::IpNet>,
    #[serde(default = "default_per_host_concurrency")]
    pub per_host_concurrency: usize,
    #[serde(default = "default_per_host_interval", with = "super::duration")]
    pub per_host_interval: Duration,
    /// Overrides of the two limits above, keyed by a host name (for the
    /// group that host falls in) or by a name from `host_groups`.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostLimits>,
    /// Hosts that share one politeness budget although their registrable
    /// domains differ, by group name (`feedburner = ["feeds.feedburner.com",
    /// "feedproxy.google.com"]`). Every other host's group is its domain.
    #[serde(default)]
    pub host_groups: BTreeMap<String, Vec<HostName>>,
    #[serde(default = "default_connect_timeout", with = "super::duration")]
    pub connect_timeout: Duration,
    #[serde(default = "default_request_timeout", with = "super::duration")]
    pub timeout: Duration,
    #[serde(default = "default_max_feed_bytes")]
    pub max_feed_bytes: u64,
    #[serde(default = "default_max_page_bytes")]
    pub max_page_bytes: u64,
    #[serde(default = "default_max_redirects")]
    pub max_redirects: usize,
    /// Attempts for one article page before the story is published with the
    /// feed's summary and `extraction.status = "failed"`.
    #[serde(default = "default_page_attempts")]
    pub page_attempts: usize,
    /// How long a host is left alone after it answered with an anti-bot
    /// challenge or a consent wall (a `Retry-After` on the answer wins):
    /// meanwhile its pages and feeds fail at once, unrequested.
    #[serde(default = "default_blocked_pause", with = "super::duration")]
    pub blocked_pause: Duration,
    /// How long a host group is left alone after a `429 Too Many Requests`
    /// that did not say how long itself (a `Retry-After` on it wins).
    #[serde(default = "default_rate_limit_pause", with = "super::duration")]
    pub rate_limit_pause: Duration,
    /// The product token of the `User-Agent`; the contact follows it.
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Sent in every request's `User-Agent` as `(+URL)`: where a site's
    /// operator can reach whoever runs this worker. Unset, the project's
    /// page is sent, unless `user_agent` already carries a `(+…)` contact
    /// (configs written before this key).
    #[serde(default)]
    pub contact_url: Option<ContactUrl>,
    /// Honour robots.txt for article pages (user-agent token `feedwire`).
    #[serde(default = "default_true")]
    pub respect_robots_txt: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty fetch config uses defaults")
    }
}

impl FetchConfig {
    /// The most requests one host may have in flight: the default or the
    /// largest override. The connection pool keeps that many idle
    /// connections per host, so a host allowed 64 requests at once does
    /// not open and close 62 connections a round.
    pub fn most_requests_per_host(&self) -> usize {
        self.hosts
            .values()
            .filter_map(|limits| limits.concurrency)
            .fold(self.per_host_concurrency, usize::max)
    }

    /// The `User-Agent` every request carries: the product token and the
    /// contact (`feedwire/0.1.0 (+https://ops.example.org/bot)`).
    pub fn user_agent_header(&self) -> String {
        let agent = self.user_agent.trim();
        match &self.contact_url {
            None if agent.contains("(+") => agent.to_string(),
            Some(contact) => format!("{agent} (+{})", contact.as_str()),
            None => format!("{agent} (+{})", default_contact_url().as_str()),
        }
    }

    /// Which hosts share a politeness budget.
    pub fn host_groups(&self) -> HostGroups {
        HostGroups::new(&self.host_groups)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostLimits {
    pub concurrency: Option<usize>,
    #[serde(
        default,
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// Interval for feeds whose publishing pace is not known yet (no dated
    /// items) and that do not set their own.
    #[serde(default = "default_feed_interval", with = "super::duration")]
    pub default_interval: Duration,
    /// Follow each feed's publishing pace between `min_interval` and
    /// `max_interval` (false: `default_interval` for every feed).
    #[serde(default = "default_true")]
    pub adaptive: bool,
    /// Shortest interval for any feed that does not set its own bounds.
    #[serde(default = "default_min_interval", with = "super::duration")]
    pub min_interval: Duration,
    /// Longest interval: a feed is polled at least this often, whatever its
    /// pace, `<ttl>` or `Cache-Control` say.
    #[serde(default = "default_max_interval", with = "super::duration")]
    pub max_interval: Duration,
    /// Feeds polled at the same time.
    #[serde(default = "default_poll_concurrency")]
    pub concurrency: usize,
    /// Longest wait between polls of a failing feed.
    #[serde(default = "default_max_backoff", with = "super::duration")]
    pub max_backoff: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty poll config uses defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Stories fetched, extracted and published at the same time; also the
    /// bound on messages awaiting a broker confirm.
    #[serde(default = "default_story_concurrency")]
    pub story_concurrency: usize,
    /// Stories waiting for a worker; polling pauses when this is full.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Fetch the article page for full text (false: use the feed's content).
    #[serde(default = "default_true")]
    pub fetch_full_text: bool,
    /// How long in-flight work may take to finish after SIGTERM.
    #[serde(default = "default_grace", with = "super::duration")]
    pub shutdown_grace: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty pipeline config uses defaults")
    }
}

/// The operations endpoint (`/metrics`, `/healthz`, `/readyz`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Off when absent. The bundled config listens on loopback, the
    /// container config on 0.0.0.0:9090.
    pub listen: Option<std::net::SocketAddr>,
    /// Label poll metrics with the feed id (dropped above 1,000 feeds).
    #[serde(default = "default_true")]
    pub per_feed_metrics: bool,
}

impl Default for OpsConfig {
    fn default() -> Self {
        OpsConfig {
            listen: None,
            per_feed_metrics: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub id: String,
    pub url: String,
    #[serde(
        default,
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Bounds of this feed's interval; both default to `interval` when that
    /// is set (a fixed interval), else to `poll.min_interval`/`max_interval`.
    #[serde(
        default,
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_interval: Option<Duration>,
    #[serde(
        default,
        with = "super::duration::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_interval: Option<Duration>,
    /// Overrides `broker.routing_key` for this feed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Overrides `pipeline.fetch_full_text` for this feed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch_full_text: Option<bool>,
}

fn default_exchange() -> String {
    "feedwire.articles".into()
}
fn default_routing_key() -> String {
    "article.{feed_id}".into()
}
fn default_binding() -> String {
    "article.#".into()
}
fn default_confirm_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_pool_size() -> usize {
    16
}
fn default_lease() -> Duration {
    Duration::from_secs(60)
}
fn default_store_path() -> PathBuf {
    PathBuf::from("data/feedwire.db")
}
fn default_archive_max_age() -> Option<Duration> {
    Some(Duration::from_secs(90 * 24 * 3600))
}
fn default_archive_max_bytes() -> Option<u64> {
    Some(2 * 1024 * 1024 * 1024)
}
fn default_per_host_concurrency() -> usize {
    2
}
fn default_per_host_interval() -> Duration {
    Duration::from_millis(250)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_feed_bytes() -> u64 {
    10 * 1024 * 1024
}
fn default_max_page_bytes() -> u64 {
    5 * 1024 * 1024
}
fn default_max_redirects() -> usize {
    5
}
fn default_page_attempts() -> usize {
    3
}
fn default_blocked_pause() -> Duration {
    Duration::from_secs(600)
}
fn default_rate_limit_pause() -> Duration {
    Duration::from_secs(60)
}
fn default_user_agent() -> String {
    concat!("feedwire/", env!("CARGO_PKG_VERSION")).into()
}
fn default_contact_url() -> ContactUrl {
    ContactUrl::try_from("https://github.com/feedwire/feedwire".to_string())
        .expect("the default contact is a URL")
}
fn default_feed_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_min_interval() -> Duration {
    Duration::from_secs(120)
}
fn default_max_interval() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_poll_concurrency() -> usize {
    16
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_story_concurrency() -> usize {
    32
}
fn default_queue_capacity() -> usize {
    1024
}
fn default_true() -> bool {
    true
}
fn default_grace() -> Duration {
    Duration::from_secs(25)
}

impl BrokerConfig {
    /// The routing key of a feed's messages: the feed's own template, else
    /// the broker's, with `{feed_id}` replaced.
    pub fn routing_key_for(&self, feed_id: &str, feed: Option<&FeedConfig>) -> String {
        feed.and_then(|f| f.routing_key.as_deref())
            .unwrap_or(&self.routing_key)
            .replace("{feed_id}", feed_id)
    }
}

impl PipelineConfig {
    /// Whether a feed's stories get their page fetched.
    pub fn fetch_full_text_for(&self, feed: Option<&FeedConfig>) -> bool {
        feed.and_then(|f| f.fetch_full_text)
            .unwrap_or(self.fetch_full_text)
    }
}

impl FeedConfig {
    /// A feed with no settings of its own.
    pub fn new(id: &str, url: &str) -> FeedConfig {
        FeedConfig {
            id: id.to_string(),
            url: url.to_string(),
            interval: None,
            min_interval: None,
            max_interval: None,
            routing_key: None,
            fetch_full_text: None,
        }
    }

    /// A feed id made from a title or URL: lower-case letters, digits and
    /// `-`, unique among `taken`.
    pub fn new_id(title: Option<&str>, url: &str, taken: &HashSet<String>) -> String {
        let source = title.filter(|t| !t.trim().is_empty()).unwrap_or(url);
        let mut slug = String::new();
        for c in source.chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
        }
        let slug: String = slug.trim_end_matches('-').chars().take(48).collect();
        let base = if slug.is_empty() {
            "feed".to_string()
        } else {
            slug
        };
        let mut id = base.clone();
        let mut n = 2;
        while taken.contains(&id) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }
}

impl PollConfig {
    /// The interval policy of a feed, or of a feed with no settings of its
    /// own: a fixed `interval` pins both bounds unless they are set too.
    pub fn policy_for(&self, feed: Option<&FeedConfig>) -> IntervalPolicy {
        let fixed = feed.and_then(|f| f.interval);
        IntervalPolicy {
            fixed,
            default: self.default_interval,
            min: feed
                .and_then(|f| f.min_interval)
                .or(fixed)
                .unwrap_or(self.min_interval),
            max: feed
                .and_then(|f| f.max_interval)
                .or(fixed)
                .unwrap_or(self.max_interval),
            adaptive: self.adaptive,
        }
    }
}
