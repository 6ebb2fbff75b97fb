//! Typed configuration, read from TOML and validated once at start-up.
//!
//! Every mistake is reported as one [`ConfigError`] that names the offending
//! key (`fetch.per_host_concurrency`, `feeds[3].url`), so an operator can fix
//! it without reading code; the binary turns it into exit code 2.

mod contact;
mod duplicates;
mod duration;
mod host_groups;
mod push;
mod sections;
#[cfg(test)]
mod tests;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

pub use contact::ContactUrl;
pub use duplicates::DuplicatesConfig;
pub use host_groups::{HostGroup, HostGroups, HostName};
pub use push::PushConfig;
pub use sections::{
    BrokerConfig, FeedConfig, FetchConfig, HostLimits, OpsConfig, PipelineConfig, PollConfig,
    QueueConfig, QueueKind, StoreConfig,
};

/// Environment variable that overrides `broker.url`, so secrets stay out of files.
pub const BROKER_URL_ENV: &str = "FEEDWIRE_BROKER_URL";

/// Environment variable that overrides `store.url` (a PostgreSQL URL).
pub const STORE_URL_ENV: &str = "FEEDWIRE_STORE_URL";

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
    pub(crate) fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
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
    pub duplicates: DuplicatesConfig,
    #[serde(default)]
    pub push: PushConfig,
    #[serde(default)]
    pub feeds: Vec<FeedConfig>,
}

impl Config {
    /// Reads, parses and validates a config file; `FEEDWIRE_BROKER_URL`
    /// overrides `broker.url`, `FEEDWIRE_STORE_URL` overrides `store.url`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
        Config::parse(&text, env(BROKER_URL_ENV), env(STORE_URL_ENV))
    }

    pub fn from_toml(
        text: &str,
        broker_url_override: Option<String>,
    ) -> Result<Config, ConfigError> {
        Config::parse(text, broker_url_override, None)
    }

    fn parse(
        text: &str,
        broker_url_override: Option<String>,
        store_url_override: Option<String>,
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
        if let Some(url) = store_url_override {
            config.store.url = Some(url);
        }
        config.validate()?;
        Ok(config)
    }

    /// The resolved config as TOML, with the passwords masked.
    pub fn to_masked_toml(&self) -> String {
        let mut masked = self.clone();
        masked.broker.url = redact_url(&masked.broker.url);
        masked.store.url = masked.store.url.as_deref().map(redact_url);
        toml::to_string_pretty(&masked).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// A broker or database URL fit to print: the password replaced by `***`.
/// Anything that is not a URL with a host (where a password could hide
/// anywhere) prints as a placeholder, so no input ever shows its password.
/// The one function every log line, error and `check-config` uses.
pub fn redact_url(url: &str) -> String {
    const UNPRINTABLE: &str = "(URL not shown: not scheme://host...)";
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
