//! `[duplicates]`: near-duplicate stories across sources (`dedup::near`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::dedup::near::DEFAULT_MIN_SIMILARITY;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicatesConfig {
    /// Look each story's text up among earlier stories; off: every message
    /// has `duplicate_of: null` and its own id as `cluster`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// How far back a story's copies are looked for.
    #[serde(default = "default_window", with = "super::duration")]
    pub window: Duration,
    /// Estimated share of the shorter text found in the longer from which
    /// a story counts as a copy (measured in docs/benchmarks.md).
    #[serde(default = "default_min_similarity")]
    pub min_similarity: f64,
}

fn default_true() -> bool {
    true
}

fn default_window() -> Duration {
    Duration::from_secs(7 * 86_400)
}

fn default_min_similarity() -> f64 {
    DEFAULT_MIN_SIMILARITY
}

impl Default for DuplicatesConfig {
    fn default() -> Self {
        toml::from_str("").expect("empty duplicates config uses defaults")
    }
}

impl DuplicatesConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.window.is_zero() {
            return Err(ConfigError::invalid(
                "duplicates.window",
                "must be positive",
            ));
        }
        // Beyond a year the prints kept (a few hundred bytes a story) grow
        // with no news value; a typo such as "7y" is the likelier cause.
        if self.window > Duration::from_secs(366 * 86_400) {
            return Err(ConfigError::invalid(
                "duplicates.window",
                "must be at most 366days",
            ));
        }
        if !(self.min_similarity > 0.0 && self.min_similarity <= 1.0) {
            return Err(ConfigError::invalid(
                "duplicates.min_similarity",
                format!("{} is not in (0, 1]", self.min_similarity),
            ));
        }
        Ok(())
    }
}
