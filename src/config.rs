//! Typed configuration, read from TOML and validated once at start-up.
//!
//! Every mistake is reported as one [`ConfigError`] that names the offending
//! key (`fetch.per_host_concurrency`, `feeds[3].url`), so an operator can fix
//! it without reading code; the binary turns it into exit code 2.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::schedule::IntervalPolicy;

/// Environment variable that overrides `broker.url`, so secrets stay out of files.
pub const BROKER_URL_ENV: &str = "FEEDWIRE_BROKER_URL";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub broker: BrokerConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub fetch: FetchConfig,
    #[serde(default)]
    pub poll: PollConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    #[serde(default)]
    pub ops: OpsConfig,
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
}

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
    #[serde(default = "default_confirm_timeout", with = "humantime_serde_compat")]
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
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Published messages older than this are dropped from the archive
    /// (replay cannot send them any more).
    #[serde(
        default = "default_archive_max_age",
        with = "humantime_serde_compat::option",
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
    #[serde(default = "default_per_host_interval", with = "humantime_serde_compat")]
    pub per_host_interval: Duration,
    /// Per-host overrides of the two limits above, keyed by host name.
    #[serde(default)]
    pub hosts: BTreeMap<String, HostLimits>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
    #[serde(default = "default_request_timeout", with = "humantime_serde_compat")]
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
    #[serde(default = "default_user_agent")]
    pub user_agent: String,
    /// Honour robots.txt for article pages (user-agent token `feedwire`).
    #[serde(default = "default_true")]
    pub respect_robots_txt: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty fetch config uses defaults")
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostLimits {
    pub concurrency: Option<usize>,
    #[serde(
        default,
        with = "humantime_serde_compat::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// Interval for feeds whose publishing pace is not known yet (no dated
    /// items) and that do not set their own.
    #[serde(default = "default_feed_interval", with = "humantime_serde_compat")]
    pub default_interval: Duration,
    /// Follow each feed's publishing pace between `min_interval` and
    /// `max_interval` (false: `default_interval` for every feed).
    #[serde(default = "default_true")]
    pub adaptive: bool,
    /// Shortest interval for any feed that does not set its own bounds.
    #[serde(default = "default_min_interval", with = "humantime_serde_compat")]
    pub min_interval: Duration,
    /// Longest interval: a feed is polled at least this often, whatever its
    /// pace, `<ttl>` or `Cache-Control` say.
    #[serde(default = "default_max_interval", with = "humantime_serde_compat")]
    pub max_interval: Duration,
    /// Feeds polled at the same time.
    #[serde(default = "default_poll_concurrency")]
    pub concurrency: usize,
    /// Longest wait between polls of a failing feed.
    #[serde(default = "default_max_backoff", with = "humantime_serde_compat")]
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
    #[serde(default = "default_grace", with = "humantime_serde_compat")]
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
        with = "humantime_serde_compat::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
    /// Bounds of this feed's interval; both default to `interval` when that
    /// is set (a fixed interval), else to `poll.min_interval`/`max_interval`.
    #[serde(
        default,
        with = "humantime_serde_compat::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub min_interval: Option<Duration>,
    #[serde(
        default,
        with = "humantime_serde_compat::option",
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
fn default_user_agent() -> String {
    concat!(
        "feedwire/",
        env!("CARGO_PKG_VERSION"),
        " (+https://github.com/feedwire/feedwire)"
    )
    .into()
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

/// Durations written the humantime way ("250ms", "5m", "1h 30m").
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// In the largest unit that divides it exactly ("90days", "250ms"),
    /// which humantime reads back to the same duration.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        let ms = d.as_millis();
        let text = [
            (86_400_000, "days"),
            (3_600_000, "h"),
            (60_000, "m"),
            (1000, "s"),
        ]
        .iter()
        .find(|(unit, _)| ms > 0 && ms.is_multiple_of(*unit))
        .map_or_else(
            || format!("{ms}ms"),
            |(unit, name)| format!("{}{name}", ms / unit),
        );
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "`{text}` is not a duration like \"250ms\" or \"5m\": {e}"
            ))
        })
    }

    pub mod option {
        use super::*;
        pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            super::deserialize(d).map(Some)
        }
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

impl Config {
    /// Reads, parses and validates a config file; `FEEDWIRE_BROKER_URL`
    /// overrides `broker.url` when set.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let broker_url = std::env::var(BROKER_URL_ENV).ok().filter(|v| !v.is_empty());
        Config::from_toml(&text, broker_url)
    }

    pub fn from_toml(
        text: &str,
        broker_url_override: Option<String>,
    ) -> Result<Config, ConfigError> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| ConfigError::invalid("(file)", e.message().to_string()))?;
        let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let message = e.inner().message().to_string();
            ConfigError::invalid(key, message)
        })?;
        if let Some(url) = broker_url_override {
            config.broker.url = url;
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        // The messages never quote the URL: it may hold the password.
        let broker_url = Url::parse(&self.broker.url)
            .map_err(|e| ConfigError::invalid("broker.url", format!("not a URL: {e}")))?;
        if !matches!(broker_url.scheme(), "amqp" | "amqps") {
            return Err(ConfigError::invalid(
                "broker.url",
                "scheme must be amqp or amqps",
            ));
        }
        // `amqp:user:pass@host` parses as a URL with no host (all of it is
        // the path), which lapin refuses only when connecting, quoting it.
        if broker_url.cannot_be_a_base() || broker_url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::invalid(
                "broker.url",
                "must be amqp[s]://[user[:password]@]host[:port][/vhost]",
            ));
        }
        if self.broker.exchange.trim().is_empty() {
            return Err(ConfigError::invalid("broker.exchange", "must not be empty"));
        }
        for (i, queue) in self.broker.queues.iter().enumerate() {
            if queue.name.trim().is_empty() {
                return Err(ConfigError::invalid(
                    format!("broker.queues[{i}].name"),
                    "must not be empty",
                ));
            }
        }
        if self.fetch.per_host_concurrency == 0 {
            return Err(ConfigError::invalid(
                "fetch.per_host_concurrency",
                "must be at least 1",
            ));
        }
        for (host, limits) in &self.fetch.hosts {
            if limits.concurrency == Some(0) {
                return Err(ConfigError::invalid(
                    format!("fetch.hosts.{host}.concurrency"),
                    "must be at least 1",
                ));
            }
        }
        if self.fetch.page_attempts == 0 {
            return Err(ConfigError::invalid(
                "fetch.page_attempts",
                "must be at least 1",
            ));
        }
        if self.fetch.max_feed_bytes == 0 || self.fetch.max_page_bytes == 0 {
            return Err(ConfigError::invalid(
                "fetch.max_feed_bytes",
                "body limits must be positive",
            ));
        }
        if self.poll.concurrency == 0 {
            return Err(ConfigError::invalid(
                "poll.concurrency",
                "must be at least 1",
            ));
        }
        if self.poll.default_interval.is_zero() {
            return Err(ConfigError::invalid(
                "poll.default_interval",
                "must be positive",
            ));
        }
        if self.poll.min_interval.is_zero() {
            return Err(ConfigError::invalid(
                "poll.min_interval",
                "must be positive",
            ));
        }
        if self.poll.min_interval > self.poll.max_interval {
            return Err(ConfigError::invalid(
                "poll.max_interval",
                "must not be shorter than poll.min_interval",
            ));
        }
        if self.pipeline.story_concurrency == 0 {
            return Err(ConfigError::invalid(
                "pipeline.story_concurrency",
                "must be at least 1",
            ));
        }
        if self.pipeline.queue_capacity == 0 {
            return Err(ConfigError::invalid(
                "pipeline.queue_capacity",
                "must be at least 1",
            ));
        }
        let mut ids = HashSet::new();
        for (i, feed) in self.feeds.iter().enumerate() {
            let valid_id = !feed.id.is_empty()
                && feed
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
            if !valid_id {
                return Err(ConfigError::invalid(
                    format!("feeds[{i}].id"),
                    format!(
                        "`{}` must be non-empty ASCII letters, digits, '-' or '_' (it becomes a routing key part)",
                        feed.id
                    ),
                ));
            }
            if !ids.insert(feed.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("feeds[{i}].id"),
                    format!("`{}` is used by another feed", feed.id),
                ));
            }
            let url = Url::parse(&feed.url).map_err(|e| {
                ConfigError::invalid(format!("feeds[{i}].url"), format!("not a URL: {e}"))
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::invalid(
                    format!("feeds[{i}].url"),
                    "scheme must be http or https",
                ));
            }
            for (key, value) in [
                ("interval", feed.interval),
                ("min_interval", feed.min_interval),
                ("max_interval", feed.max_interval),
            ] {
                if value.is_some_and(|d| d.is_zero()) {
                    return Err(ConfigError::invalid(
                        format!("feeds[{i}].{key}"),
                        "must be positive",
                    ));
                }
            }
            let policy = self.poll.policy_for(Some(feed));
            if policy.min > policy.max {
                return Err(ConfigError::invalid(
                    format!("feeds[{i}].max_interval"),
                    format!(
                        "{:?} is shorter than the feed's min_interval {:?}",
                        policy.max, policy.min
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The routing key for messages of one feed.
    pub fn routing_key_for(&self, feed_id: &str) -> String {
        let template = self
            .feeds
            .iter()
            .find(|f| f.id == feed_id)
            .and_then(|f| f.routing_key.as_deref())
            .unwrap_or(&self.broker.routing_key);
        template.replace("{feed_id}", feed_id)
    }

    /// Appends feeds to the config file at `path`, keeping its text (and
    /// comments) as it is. The result is validated before it is written, and
    /// written atomically, so a bad import never leaves a broken config.
    pub fn append_feeds(path: &Path, feeds: &[FeedConfig]) -> Result<(), ConfigError> {
        let mut text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for feed in feeds {
            let block =
                toml::to_string(feed).map_err(|e| ConfigError::invalid("feeds", e.to_string()))?;
            text.push_str("\n[[feeds]]\n");
            text.push_str(&block);
        }
        Config::from_toml(&text, None)?;
        let temporary = path.with_extension("toml.tmp");
        let write =
            std::fs::write(&temporary, &text).and_then(|()| std::fs::rename(&temporary, path));
        write.map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A feed id made from a title or URL: lower-case letters, digits and
    /// `-`, unique among `taken`.
    pub fn new_feed_id(title: Option<&str>, url: &str, taken: &HashSet<String>) -> String {
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

    /// The resolved config as TOML, with the broker password masked.
    pub fn to_masked_toml(&self) -> String {
        let mut masked = self.clone();
        masked.broker.url = redact_url(&masked.broker.url);
        toml::to_string_pretty(&masked).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    pub fn feed(&self, feed_id: &str) -> Option<&FeedConfig> {
        self.feeds.iter().find(|f| f.id == feed_id)
    }

    pub fn fetch_full_text(&self, feed: &FeedConfig) -> bool {
        feed.fetch_full_text
            .unwrap_or(self.pipeline.fetch_full_text)
    }
}

/// A broker URL fit to print: the password replaced by `***`. Anything
/// that is not a URL with a host (where a password could hide anywhere)
/// prints as a placeholder, so no input ever shows its password. The one
/// function every log line, error and `check-config` uses.
pub fn redact_url(url: &str) -> String {
    const UNPRINTABLE: &str = "(broker URL not shown: not amqp[s]://host...)";
    let Ok(mut parsed) = Url::parse(url) else {
        return UNPRINTABLE.into();
    };
    if parsed.cannot_be_a_base() || parsed.host_str().is_none_or(str::is_empty) {
        return UNPRINTABLE.into();
    }
    if parsed.password().is_some() && parsed.set_password(Some("***")).is_err() {
        return UNPRINTABLE.into();
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[broker]
url = "amqp://guest:guest@127.0.0.1:5672/%2f"
[[feeds]]
id = "bbc-world"
url = "https://feeds.bbci.co.uk/news/world/rss.xml"
interval = "5m"
"#;

    fn key_of(text: &str) -> String {
        match Config::from_toml(text, None) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid-config error, got {other:?}"),
        }
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = Config::from_toml(MINIMAL, None).unwrap();
        assert_eq!(config.broker.exchange, "feedwire.articles");
        assert_eq!(config.fetch.per_host_concurrency, 2);
        assert_eq!(config.fetch.per_host_interval, Duration::from_millis(250));
        assert_eq!(config.feeds[0].interval, Some(Duration::from_secs(300)));
        assert_eq!(config.routing_key_for("bbc-world"), "article.bbc-world");
        assert!(!config.fetch.allow_private_networks);
    }

    #[test]
    fn unknown_key_is_named() {
        let text = MINIMAL.replace("[broker]", "[broker]\nexchnage = \"x\"");
        assert_eq!(key_of(&text), "broker.exchnage");
        let text = format!("{MINIMAL}\n[fetch]\nper_host_concurency = 3\n");
        assert_eq!(key_of(&text), "fetch.per_host_concurency");
    }

    #[test]
    fn bad_values_are_named() {
        let text = format!("{MINIMAL}\n[fetch]\nper_host_interval = \"soon\"\n");
        assert_eq!(key_of(&text), "fetch.per_host_interval");
        let text = format!("{MINIMAL}\n[fetch]\nper_host_concurrency = 0\n");
        assert_eq!(key_of(&text), "fetch.per_host_concurrency");
        let text = format!("{MINIMAL}\n[fetch]\nper_host_concurrency = \"two\"\n");
        assert_eq!(key_of(&text), "fetch.per_host_concurrency");
        let text = MINIMAL.replace("https://feeds", "ftp://feeds");
        assert_eq!(key_of(&text), "feeds[0].url");
        let text =
            format!("{MINIMAL}\n[[feeds]]\nid = \"bbc-world\"\nurl = \"https://a.example/\"\n");
        assert_eq!(key_of(&text), "feeds[1].id");
        let text = MINIMAL.replace("amqp://", "http://");
        assert_eq!(key_of(&text), "broker.url");
    }

    #[test]
    fn private_networks_are_cidrs() {
        let text = format!(
            "{MINIMAL}\n[fetch]\nallow_private_networks = true\nprivate_networks = [\"10.0.0.0/8\", \"fd00::/8\"]\n"
        );
        let config = Config::from_toml(&text, None).unwrap();
        assert_eq!(config.fetch.private_networks.len(), 2);
        let text = format!("{MINIMAL}\n[fetch]\nprivate_networks = [\"10.0.0.0/33\"]\n");
        assert_eq!(key_of(&text), "fetch.private_networks[0]");
    }

    #[test]
    fn broker_url_override_wins() {
        let config =
            Config::from_toml(MINIMAL, Some("amqp://user:secret@rabbit:5672/%2f".into())).unwrap();
        assert_eq!(config.broker.url, "amqp://user:secret@rabbit:5672/%2f");
    }

    #[test]
    fn per_feed_routing_key_and_host_limits() {
        let text = format!(
            "{MINIMAL}routing_key = \"news.{{feed_id}}.v1\"\n[fetch.hosts.\"127.0.0.1\"]\nconcurrency = 8\ninterval = \"0ms\"\n"
        );
        let config = Config::from_toml(&text, None).unwrap();
        assert_eq!(config.routing_key_for("bbc-world"), "news.bbc-world.v1");
        assert_eq!(config.fetch.hosts["127.0.0.1"].concurrency, Some(8));
    }

    #[test]
    fn malformed_broker_urls_are_refused_without_quoting_them() {
        for url in [
            "amqp:user:S3cret@rabbit",
            "amqp:user:S3cret@rabbit:5672/%2f",
            "amqp:/user:S3cret@rabbit",
            "amqp://",
            "amqp:///%2f",
        ] {
            match Config::from_toml(MINIMAL, Some(url.into())) {
                Err(e @ ConfigError::Invalid { .. }) => {
                    let text = e.to_string();
                    assert!(text.starts_with("config key `broker.url`"), "{url}: {text}");
                    assert!(!text.contains("S3cret"), "{url}: {text}");
                }
                other => panic!("{url}: expected an invalid broker.url, got {other:?}"),
            }
        }
    }

    #[test]
    fn redaction_never_shows_a_password() {
        assert_eq!(
            redact_url("amqp://guest:S3cret@rabbit:5672/%2f"),
            "amqp://guest:***@rabbit:5672/%2f"
        );
        assert_eq!(redact_url("amqp://rabbit/"), "amqp://rabbit/");
        assert_eq!(
            redact_url("amqps://user:S3cret@rabbit.example/vh?heartbeat=10"),
            "amqps://user:***@rabbit.example/vh?heartbeat=10"
        );
        for url in [
            "amqp:user:S3cret@rabbit",
            "amqp:/user:S3cret@rabbit",
            "amqp://user:S3cret@rabbit:notaport/",
            "amqp://user:S3cret@@rabbit",
            "amqp://user:S3cret%40@rabbit",
            "amqp://user:S3cret@[::1",
            "user:S3cret@rabbit",
            "S3cret",
            "amqp://user:S3cret@/%2f",
            "mailto:user:S3cret@rabbit",
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("S3cret"), "{url} shown as {shown}");
        }
    }

    #[test]
    fn masked_toml_round_trips_without_the_password() {
        let config =
            Config::from_toml(MINIMAL, Some("amqp://user:s3cret@rabbit:5672/%2f".into())).unwrap();
        let text = config.to_masked_toml();
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains("amqp://user:***@rabbit:5672/%2f"));
        let back = Config::from_toml(&text, None).unwrap();
        assert_eq!(back.fetch.per_host_interval, Duration::from_millis(250));
        assert_eq!(back.feeds[0].interval, Some(Duration::from_secs(300)));
    }

    #[test]
    fn appended_feeds_keep_the_file_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedwire.toml");
        std::fs::write(&path, format!("# my comment\n{MINIMAL}")).unwrap();
        let taken: HashSet<String> = ["bbc-world".to_string()].into();
        let id = Config::new_feed_id(Some("BBC World!"), "https://x", &taken);
        assert_eq!(id, "bbc-world-2");
        let feed = FeedConfig {
            id,
            url: "https://example.org/feed.xml".into(),
            interval: None,
            min_interval: None,
            max_interval: None,
            routing_key: None,
            fetch_full_text: None,
        };
        Config::append_feeds(&path, &[feed]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# my comment"));
        let config = Config::load(&path).unwrap();
        assert_eq!(config.feeds.len(), 2);
        assert_eq!(config.feeds[1].id, "bbc-world-2");
        // A feed that would break the config is refused and nothing is written.
        let bad = FeedConfig {
            id: "bad".into(),
            url: "ftp://example.org/".into(),
            interval: None,
            min_interval: None,
            max_interval: None,
            routing_key: None,
            fetch_full_text: None,
        };
        assert!(Config::append_feeds(&path, &[bad]).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn interval_bounds_are_checked() {
        let text = format!("{MINIMAL}min_interval = \"10m\"\n");
        assert_eq!(key_of(&text), "feeds[0].max_interval");
        let text = format!("{MINIMAL}min_interval = \"1m\"\nmax_interval = \"1h\"\n");
        assert!(Config::from_toml(&text, None).is_ok());
        let text = format!("{MINIMAL}\n[poll]\nmin_interval = \"7h\"\n");
        assert_eq!(key_of(&text), "poll.max_interval");
        let text = format!("{MINIMAL}max_interval = \"0s\"\n");
        assert_eq!(key_of(&text), "feeds[0].max_interval");
    }

    #[test]
    fn shipped_config_is_valid() {
        let text = include_str!("../config/feedwire.toml");
        let config = Config::from_toml(text, None).unwrap();
        assert!(config.feeds.len() >= 9);
        assert!(!config.broker.queues.is_empty());
    }

    #[test]
    fn an_explicit_interval_pins_the_bounds() {
        use crate::schedule::Pace;
        let now = 1_780_000_000_000;
        let text = "[broker]\nurl = \"amqp://127.0.0.1\"\n[[feeds]]\nid = \"a\"\nurl = \"https://a.example/\"\ninterval = \"1s\"\n";
        let mut config = Config::from_toml(text, None).unwrap();
        let pinned = config.poll.policy_for(Some(&config.feeds[0]));
        let ttl = Some(Duration::from_secs(15 * 60));
        assert_eq!(
            pinned.interval(&Pace::default(), ttl, None, now),
            Duration::from_secs(1)
        );
        // With its own max, the hint may stretch it up to that max.
        config.feeds[0].max_interval = Some(Duration::from_secs(600));
        let stretchy = config.poll.policy_for(Some(&config.feeds[0]));
        assert_eq!(
            stretchy.interval(&Pace::default(), ttl, None, now),
            Duration::from_secs(600)
        );
    }
}
