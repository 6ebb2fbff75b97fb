//! Checks a parsed config once at start-up; every mistake names its key.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use url::Url;

use super::{Config, ConfigError, FeedConfig, HostGroup, PollConfig, QueueKind};

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
        if let Some(url) = &self.store.url {
            let parsed = Url::parse(url)
                .map_err(|e| ConfigError::invalid("store.url", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "postgres" | "postgresql")
                || parsed.host_str().is_none_or(str::is_empty)
            {
                return Err(ConfigError::invalid(
                    "store.url",
                    "must be postgres://[user[:password]@]host[:port]/database",
                ));
            }
        }
        if self.store.pool_size == 0 {
            return Err(ConfigError::invalid(
                "store.pool_size",
                "must be at least 1",
            ));
        }
        if self.store.lease < Duration::from_secs(3) {
            return Err(ConfigError::invalid(
                "store.lease",
                "must be at least 3s (a worker beats every third of it)",
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
            if queue.kind != QueueKind::Stream {
                for (key, set) in [
                    ("max_age", queue.max_age.is_some()),
                    ("max_length_bytes", queue.max_length_bytes.is_some()),
                ] {
                    if set {
                        return Err(ConfigError::invalid(
                            format!("broker.queues[{i}].{key}"),
                            "applies to stream queues only (type = \"stream\")",
                        ));
                    }
                }
            }
            if queue
                .max_age
                .is_some_and(|age| age < Duration::from_secs(1))
            {
                return Err(ConfigError::invalid(
                    format!("broker.queues[{i}].max_age"),
                    "must be at least 1s",
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
        self.validate_host_groups()?;
        self.validate_user_agent()?;
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
        self.duplicates.check()?;
        self.push.check(self.ops.listen)?;
        let mut ids = HashSet::new();
        for (i, feed) in self.feeds.iter().enumerate() {
            feed.check(&self.poll, &format!("feeds[{i}]"))?;
            if !ids.insert(feed.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("feeds[{i}].id"),
                    format!("`{}` is used by another feed", feed.id),
                ));
            }
        }
        Ok(())
    }
}

impl FeedConfig {
    /// Checks one feed's settings; errors name `{key}.id`, `{key}.url`...
    /// (`feeds[3]` in a config, the command's argument for `feeds add`).
    pub fn check(&self, poll: &PollConfig, key: &str) -> Result<(), ConfigError> {
        let valid_id = !self.id.is_empty()
            && self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
        if !valid_id {
            return Err(ConfigError::invalid(
                format!("{key}.id"),
                format!(
                    "`{}` must be non-empty ASCII letters, digits, '-' or '_' (it becomes a routing key part)",
                    self.id
                ),
            ));
        }
        let url = Url::parse(&self.url)
            .map_err(|e| ConfigError::invalid(format!("{key}.url"), format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::invalid(
                format!("{key}.url"),
                "scheme must be http or https",
            ));
        }
        for (name, value) in [
            ("interval", self.interval),
            ("min_interval", self.min_interval),
            ("max_interval", self.max_interval),
        ] {
            if value.is_some_and(|d| d.is_zero()) {
                return Err(ConfigError::invalid(
                    format!("{key}.{name}"),
                    "must be positive",
                ));
            }
        }
        let policy = poll.policy_for(Some(self));
        if policy.min > policy.max {
            return Err(ConfigError::invalid(
                format!("{key}.max_interval"),
                format!(
                    "{:?} is shorter than the feed's min_interval {:?}",
                    policy.max, policy.min
                ),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// Group names are plain words, every host is in one group at most, and
    /// no two `fetch.hosts` overrides land in one group (which would win?).
    fn validate_host_groups(&self) -> Result<(), ConfigError> {
        let mut group_of_host = HashMap::new();
        for (name, hosts) in &self.fetch.host_groups {
            let key = format!("fetch.host_groups.{name}");
            let word = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
            if !word {
                return Err(ConfigError::invalid(
                    key,
                    "a group name is letters, digits, '.', '-' or '_'",
                ));
            }
            if hosts.is_empty() {
                return Err(ConfigError::invalid(key, "a group needs at least one host"));
            }
            for (i, host) in hosts.iter().enumerate() {
                if let Some(other) = group_of_host.insert(host.as_str(), name) {
                    return Err(ConfigError::invalid(
                        format!("{key}[{i}]"),
                        format!("{} is in group `{other}` already", host.as_str()),
                    ));
                }
            }
        }
        let groups = self.fetch.host_groups();
        let mut overridden: HashMap<HostGroup, &str> = HashMap::new();
        for key in self.fetch.hosts.keys() {
            let group = groups.group_named(key);
            if let Some(other) = overridden.get(&group) {
                return Err(ConfigError::invalid(
                    format!("fetch.hosts.{key}"),
                    format!(
                        "falls in host group {group}, like fetch.hosts.{other}: limits are per group, give them once"
                    ),
                ));
            }
            overridden.insert(group, key);
        }
        Ok(())
    }

    /// A header value, and only the product: the contact has its own key.
    fn validate_user_agent(&self) -> Result<(), ConfigError> {
        let agent = self.fetch.user_agent.trim();
        if agent.is_empty() || !agent.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
            return Err(ConfigError::invalid(
                "fetch.user_agent",
                "must be printable ASCII, like \"feedwire/0.1\"",
            ));
        }
        if agent.contains("(+") && self.fetch.contact_url.is_some() {
            return Err(ConfigError::invalid(
                "fetch.user_agent",
                "carries a \"(+…)\" contact and fetch.contact_url is set too: keep one \
                 (fetch.contact_url is added as \"(+URL)\")",
            ));
        }
        Ok(())
    }
}
