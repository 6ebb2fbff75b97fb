//! Per-host politeness: at most N requests in flight to one host, and at
//! least a gap between two requests to it. Feeds and article pages of a host
//! share one gate, and a `429`/`503` with `Retry-After` closes the gate for
//! every request to that host until the time given. A host that answered
//! with an anti-bot challenge or a consent wall is blocked for a while:
//! requests to it fail at once instead of waiting at the gate, so its
//! stories do not hold the pipeline's slots (and the site is not asked).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::BlockKind;
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
    /// Until when requests to the host fail at once, and what blocked it.
    blocked: Mutex<Option<(Instant, BlockKind)>>,
}

impl HostGate {
    /// Nothing would change if this gate were forgotten and made anew: no
    /// request holds or waits for it (only the map refers to it), and
    /// neither its spacing nor a `Retry-After` pause reaches into the future.
    fn is_idle(self: &Arc<Self>, now: Instant) -> bool {
        Arc::strong_count(self) == 1
            && self.permits.available_permits() == self.concurrency
            && *self.next_start.lock().unwrap_or_else(|p| p.into_inner()) <= now
            && self.blocked_now(now).is_none()
    }

    fn blocked_now(&self, now: Instant) -> Option<BlockKind> {
        let blocked = *self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        blocked
            .filter(|(until, _)| *until > now)
            .map(|(_, kind)| kind)
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
            blocked: Mutex::new(None),
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
    /// The host answered with a challenge or a wall: requests to it fail
    /// with `kind` until `delay` has passed.
    pub fn block(&self, host: &str, kind: BlockKind, delay: Duration) {
        let gate = self.gate(host);
        let until = Instant::now() + delay.min(MAX_HOST_PAUSE);
        let mut blocked = gate.blocked.lock().unwrap_or_else(|p| p.into_inner());
        if blocked.is_none_or(|(then, _)| then < until) {
            *blocked = Some((until, kind));
        }
    }

    /// What blocks `host` now, if anything (without making it a gate).
    pub fn blocked(&self, host: &str) -> Option<BlockKind> {
        let gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .by_host
            .get(host)
            .and_then(|gate| gate.blocked_now(Instant::now()))
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
    async fn a_blocked_host_stays_blocked_for_its_time_only() {
        let limiter = limiter(2, 0);
        assert_eq!(limiter.blocked("a.example"), None);
        limiter.block("a.example", BlockKind::Datadome, Duration::from_secs(600));
        assert_eq!(limiter.blocked("a.example"), Some(BlockKind::Datadome));
        assert_eq!(limiter.blocked("b.example"), None);
        // A shorter block does not shorten it.
        limiter.block("a.example", BlockKind::ConsentWall, Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(599)).await;
        assert_eq!(limiter.blocked("a.example"), Some(BlockKind::Datadome));
        // Idle hosts are swept, blocked ones kept.
        for i in 0..2 * SWEEP_AT_LEAST {
            let _permit = limiter.acquire(&format!("h{i}.example")).await;
        }
        assert_eq!(limiter.blocked("a.example"), Some(BlockKind::Datadome));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(limiter.blocked("a.example"), None);
        // The block never made requests wait at the gate.
        let t0 = Instant::now();
        let _p = limiter.acquire("a.example").await;
        assert_eq!(Instant::now(), t0);
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
