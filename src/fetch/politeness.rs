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
/// Gates kept before idle ones are first swept out; after a sweep, the next
/// one waits until the map has doubled, so sweeping stays linear overall.
const SWEEP_AT_LEAST: usize = 1024;

struct HostGate {
    permits: Arc<Semaphore>,
    concurrency: usize,
    interval: Duration,
    /// Earliest time the next request may start.
    next_start: Mutex<Instant>,
}

impl HostGate {
    /// Nothing would change if this gate were forgotten and made anew: no
    /// request holds or waits for it (only the map refers to it), and
    /// neither its spacing nor a `Retry-After` pause reaches into the future.
    fn is_idle(self: &Arc<Self>, now: Instant) -> bool {
        Arc::strong_count(self) == 1
            && self.permits.available_permits() == self.concurrency
            && *self.next_start.lock().unwrap_or_else(|p| p.into_inner()) <= now
    }
}

struct Gates {
    by_host: HashMap<String, Arc<HostGate>>,
    /// Size at which idle gates are swept out next.
    sweep_at: usize,
}

/// Hands out permission to send one request to a host.
pub struct HostLimiter {
    default_concurrency: usize,
    default_interval: Duration,
    overrides: HashMap<String, (Option<usize>, Option<Duration>)>,
    /// One gate per host seen recently; idle ones are evicted, so the map
    /// does not grow with every host ever fetched (feeds link anywhere).
    gates: Mutex<Gates>,
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
            gates: Mutex::new(Gates {
                by_host: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
            }),
        }
    }

    fn gate(&self, host: &str) -> Arc<HostGate> {
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gate) = gates.by_host.get(host) {
            return Arc::clone(gate);
        }
        if gates.by_host.len() >= gates.sweep_at {
            let now = Instant::now();
            gates.by_host.retain(|_, gate| !gate.is_idle(now));
            gates.sweep_at = (gates.by_host.len() * 2).max(SWEEP_AT_LEAST);
        }
        let (concurrency, interval) = self.overrides.get(host).copied().unwrap_or((None, None));
        let concurrency = concurrency.unwrap_or(self.default_concurrency);
        let gate = Arc::new(HostGate {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            interval: interval.unwrap_or(self.default_interval),
            next_start: Mutex::new(Instant::now()),
        });
        gates.by_host.insert(host.to_string(), Arc::clone(&gate));
        gate
    }

    /// Hosts with a gate now.
    #[cfg(test)]
    fn hosts_tracked(&self) -> usize {
        self.gates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_host
            .len()
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

impl HostLimiter {
    /// How long until a request to `host` may start.
    #[cfg(test)]
    pub(crate) fn wait_left(&self, host: &str) -> Duration {
        let gate = self.gate(host);
        let next = *gate.next_start.lock().unwrap_or_else(|p| p.into_inner());
        next.saturating_duration_since(Instant::now())
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
    async fn idle_hosts_are_forgotten() {
        let limiter = Arc::new(limiter(1, 250));
        // A host paused by Retry-After, and one with a request in flight.
        limiter.pause("paused.example", Duration::from_secs(600));
        let busy = limiter.acquire("busy.example").await;
        for i in 0..10_000 {
            let _permit = limiter.acquire(&format!("h{i}.example")).await;
            if i % 100 == 0 {
                // Let the spacing of the hosts seen so far run out.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        let tracked = limiter.hosts_tracked();
        assert!(tracked <= 2 * SWEEP_AT_LEAST, "{tracked} hosts tracked");
        // Their limits still hold: the pause...
        let t0 = Instant::now();
        let _p = limiter.acquire("paused.example").await;
        assert!(Instant::now() - t0 >= Duration::from_secs(500));
        // ...and the request in flight.
        let waiting = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire("busy.example").await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        drop(busy);
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
