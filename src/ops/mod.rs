//! Operations: metrics, the health and readiness endpoint, and process
//! measurements.

mod callbacks;
mod metrics;
mod process;
mod server;

pub use callbacks::{CallbackFuture, CallbackHandler, CallbackReply, CallbackRequest};
pub use metrics::{KindLabels, Metrics, OutcomeLabels, PER_FEED_LIMIT, StateLabels};
pub use process::{LatencyHistogram, cpu_time, peak_rss_bytes, rss_bytes};
pub use server::{OpsServer, ReadinessProbe, Refresh};
