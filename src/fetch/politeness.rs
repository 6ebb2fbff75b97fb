//! Per-host politeness: at most N requests in flight to one host, and at
//! least a gap between two requests to it. Feeds and article pages of a host
//! share one gate, and a `429`/`503` with `Retry-After` closes the gate for
//! every request to that host until the time given.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::FetchConfig;

/// Longest pause a server's `Retry-After` can impose on a host.
const MAX_HOST_PAUSE: Duration = Duration::from_secs(3600);

struct HostGate {
    permits: Arc<Semaphore>,
    interval: Duration,
    /// Earliest time the next request may start.
    next_start: Mutex<Instant>,
}

/// Hands out permission to send one request to a host.
pub struct HostLimiter {
    default_concurrency: usize,
    default_interval: Duration,
    overrides: HashMap<String, (Option<usize>, Option<Duration>)>,
    gates: Mutex<HashMap<String, Arc<HostGate>>>,
}

/// Held while a request is in flight; dropping it frees the slot.
pub struct HostPermit {
    _permit: OwnedSemaphorePermit,
}

impl HostLimiter {
    pub fn new(config: &FetchConfig) -> HostLimiter {
        HostLimiter {
            default_concurrency: config.per_host_concurrency,
            default_interval: config.per_host_interval,
            overrides: config
                .hosts
                .iter()
                .map(|(host, l)| (host.to_ascii_lowercase(), (l.concurrency, l.interval)))
                .collect(),
            gates: Mutex::new(HashMap::new()),
        }
    }

    fn gate(&self, host: &str) -> Arc<HostGate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gate) = gates.get(host) {
            return Arc::clone(gate);
        }
        let (concurrency, interval) = self.overrides.get(host).copied().unwrap_or((None, None));
        let gate = Arc::new(HostGate {
            permits: Arc::new(Semaphore::new(
                concurrency.unwrap_or(self.default_concurrency),
            )),
            interval: interval.unwrap_or(self.default_interval),
            next_start: Mutex::new(Instant::now()),
        });
        gates.insert(host.to_string(), Arc::clone(&gate));
        gate
    }

    /// Waits for a free slot on `host` and for its gap to pass.
    pub async fn acquire(&self, host: &str) -> HostPermit {
        let gate = self.gate(host);
        let permit = Arc::clone(&gate.permits)
            .acquire_owned()
            .await
            .expect("host semaphores are never closed");
        let start = {
            let mut next = gate.next_start.lock().unwrap_or_else(|p| p.into_inner());
            let start = (*next).max(Instant::now());
            *next = start + gate.interval;
            start
        };
        tokio::time::sleep_until(start).await;
        HostPermit { _permit: permit }
    }

    /// The host asked us to slow down (`Retry-After`): no request to it
    /// starts before `delay` has passed.
    pub fn pause(&self, host: &str, delay: Duration) {
        let gate = self.gate(host);
        let until = Instant::now() + delay.min(MAX_HOST_PAUSE);
        let mut next = gate.next_start.lock().unwrap_or_else(|p| p.into_inner());
        if *next < until {
            *next = until;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(concurrency: usize, interval_ms: u64) -> HostLimiter {
        HostLimiter::new(&FetchConfig {
            per_host_concurrency: concurrency,
            per_host_interval: Duration::from_millis(interval_ms),
            ..FetchConfig::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_to_one_host() {
        let limiter = limiter(4, 250);
        let t0 = Instant::now();
        let _a = limiter.acquire("a.example").await;
        let _b = limiter.acquire("a.example").await;
        let _c = limiter.acquire("a.example").await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(500));
        // Another host is not held up.
        let t1 = Instant::now();
        let _d = limiter.acquire("b.example").await;
        assert_eq!(Instant::now(), t1);
    }

    #[tokio::test(start_paused = true)]
    async fn bounds_requests_in_flight() {
        let limiter = Arc::new(limiter(1, 0));
        let first = limiter.acquire("a.example").await;
        let waiting = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire("a.example").await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        drop(first);
        waiting.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_the_host() {
        let limiter = limiter(2, 0);
        limiter.pause("a.example", Duration::from_secs(30));
        let t0 = Instant::now();
        let _p = limiter.acquire("a.example").await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(30));
    }
}
