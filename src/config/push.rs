//! `[push]`: WebSub subscriptions for feeds whose publishers name a hub
//! (`src/push/`, `src/pipeline/push.rs`). Off by default: it needs a public
//! URL that reaches the ops endpoint.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::ConfigError;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    #[serde(default)]
    pub enabled: bool,
    /// The public URL under which hubs reach the ops endpoint's callbacks
    /// (`https://feedwire.example.com/websub`); its path is the route the
    /// ops server answers on, one sub-path per subscription.
    #[serde(default)]
    pub callback_base: Option<Url>,
    /// The lease asked of hubs; hubs may grant another.
    #[serde(default = "default_lease", with = "super::duration")]
    pub lease: Duration,
    /// How often a feed with a live subscription is still polled: hubs
    /// drop notifications, so polling stays as a safety net.
    #[serde(default = "default_safety_poll", with = "super::duration")]
    pub safety_poll_interval: Duration,
    /// After a hub refused, failed or never verified a subscription, how
    /// long before it is asked again (the feed is polled meanwhile).
    #[serde(default = "default_retry", with = "super::duration")]
    pub retry_interval: Duration,
}

fn default_lease() -> Duration {
    Duration::from_secs(10 * 86_400)
}

fn default_safety_poll() -> Duration {
    Duration::from_secs(6 * 3600)
}

fn default_retry() -> Duration {
    Duration::from_secs(3600)
}

impl Default for PushConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty push config uses defaults")
    }
}

impl PushConfig {
    /// The callback base when push is on.
    pub fn active_base(&self) -> Option<&Url> {
        self.callback_base.as_ref().filter(|_| self.enabled)
    }

    /// Checked against `ops_listen`: the callbacks are served there.
    pub(super) fn check(
        &self,
        ops_listen: Option<std::net::SocketAddr>,
    ) -> Result<(), ConfigError> {
        if let Some(base) = &self.callback_base {
            if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
                return Err(ConfigError::invalid(
                    "push.callback_base",
                    format!("`{base}` is not an http(s) URL with a host"),
                ));
            }
            if base.query().is_some() || base.fragment().is_some() {
                return Err(ConfigError::invalid(
                    "push.callback_base",
                    "must have no query or fragment: subscriptions are told apart by path",
                ));
            }
            let path = base.path().trim_end_matches('/');
            if matches!(path, "" | "/metrics" | "/healthz" | "/readyz") {
                return Err(ConfigError::invalid(
                    "push.callback_base",
                    "needs a path of its own, such as /websub",
                ));
            }
        }
        if !self.enabled {
            return Ok(());
        }
        if self.callback_base.is_none() {
            return Err(ConfigError::invalid(
                "push.callback_base",
                "is required when push.enabled is true",
            ));
        }
        if ops_listen.is_none() {
            return Err(ConfigError::invalid(
                "ops.listen",
                "is required when push.enabled is true: hubs call back on the ops endpoint",
            ));
        }
        for (key, value, least) in [
            ("push.lease", self.lease, Duration::from_secs(60)),
            (
                "push.safety_poll_interval",
                self.safety_poll_interval,
                Duration::from_secs(1),
            ),
            (
                "push.retry_interval",
                self.retry_interval,
                Duration::from_secs(1),
            ),
        ] {
            if value < least {
                return Err(ConfigError::invalid(
                    key,
                    format!("must be at least {least:?}"),
                ));
            }
        }
        Ok(())
    }
}
