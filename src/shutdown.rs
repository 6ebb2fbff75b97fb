//! Graceful shutdown on SIGTERM and SIGINT, in two steps.
//!
//! The first signal cancels `shutdown`: polling stops, in-flight stories
//! finish and their confirms are awaited. When the grace period is over,
//! `abort` is cancelled: what is still in flight is left unmarked in the
//! store and resumed on the next start. A second signal exits at once; the
//! store is consistent at every commit, so nothing confirmed is forgotten.
//! A watchdog thread ends the process shortly after the grace period even
//! if something does not stop.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// The two cancellation steps handed to the pipeline.
#[derive(Clone, Default)]
pub struct Shutdown {
    pub shutdown: CancellationToken,
    pub abort: CancellationToken,
}

impl Shutdown {
    /// Listens for signals in the background for the life of the process.
    pub fn on_signals(grace: Duration) -> Shutdown {
        let tokens = Shutdown::default();
        let handle = tokens.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!(grace = ?grace, "signal received: stopping polling, finishing in-flight work");
            handle.shutdown.cancel();
            watchdog(grace + WATCHDOG_MARGIN);
            let abort = handle.abort.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                if !abort.is_cancelled() {
                    warn!("grace period over: leaving unfinished stories for the next start");
                    abort.cancel();
                }
            });
            wait_for_signal().await;
            warn!("second signal: exiting at once");
            std::process::exit(130);
        });
        tokens
    }
}

/// What the process may take beyond the grace period to flush and exit.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(3);

/// Ends the process after `limit` whatever it is doing: a thread of its own,
/// so neither a busy async runtime nor a long parse can hold it up.
fn watchdog(limit: Duration) {
    let _ = std::thread::Builder::new()
        .name("feedwire-watchdog".into())
        .spawn(move || {
            std::thread::sleep(limit);
            tracing::error!(
                ?limit,
                "shutdown took longer than the grace period; exiting now"
            );
            std::process::exit(1);
        });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
