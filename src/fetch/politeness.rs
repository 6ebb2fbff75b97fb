//! Politeness per service: at most N requests in flight to one host group
//! (a registrable domain, or a group from `fetch.host_groups`), and at least
//! a gap between two requests to it, whichever of its hosts they go to: one
//! service behind many host names is one budget. Feeds and article pages
//! share the gate, and a `429`/`503` with `Retry-After` on any host closes
//! the gate for the whole group until the time given (the service is what
//! is overloaded, not the name). A group whose host answered with an
//! anti-bot challenge or a consent wall is blocked for a while: requests to
//! it fail at once instead of waiting at the gate, so its stories do not
//! hold the pipeline's slots (and the site is not asked).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::BlockKind;
use crate::config::{FetchConfig, HostGroup, HostGroups};

/// Longest pause a server's `Retry-After` can impose on a group.
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
    /// Until when the group is paused by a 429 or `Retry-After`: a request
    /// that was given its start before the pause came waits for it too.
    paused_until: Mutex<Instant>,
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
    by_group: HashMap<HostGroup, Arc<HostGate>>,
    /// Size at which idle gates are swept out next.
    sweep_at: usize,
}

/// Hands out permission to send one request to a host's group.
pub struct HostLimiter {
    groups: HostGroups,
    default_concurrency: usize,
    default_interval: Duration,
    overrides: HashMap<HostGroup, (Option<usize>, Option<Duration>)>,
    /// One gate per group seen recently; idle ones are evicted, so the map
    /// does not grow with every host ever fetched (feeds link anywhere).
    gates: Mutex<Gates>,
}

/// Held while a request is in flight; dropping it frees the slot.
pub struct HostPermit {
    _permit: OwnedSemaphorePermit,
}

impl HostLimiter {
    pub fn new(config: &FetchConfig) -> HostLimiter {
        let groups = config.host_groups();
        HostLimiter {
            default_concurrency: config.per_host_concurrency,
            default_interval: config.per_host_interval,
            // The config check made sure no two keys name one group.
            overrides: config
                .hosts
                .iter()
                .map(|(key, l)| (groups.group_named(key), (l.concurrency, l.interval)))
                .collect(),
            groups,
            gates: Mutex::new(Gates {
                by_group: HashMap::new(),
                sweep_at: SWEEP_AT_LEAST,
            }),
        }
    }

    /// The group whose budget a request to `host` spends.
    pub fn group_of(&self, host: &str) -> HostGroup {
        self.groups.group_of(host)
    }

    fn gate(&self, host: &str) -> Arc<HostGate> {
        let group = self.group_of(host);
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(gate) = gates.by_group.get(&group) {
            return Arc::clone(gate);
        }
        if gates.by_group.len() >= gates.sweep_at {
            let now = Instant::now();
            gates.by_group.retain(|_, gate| !gate.is_idle(now));
            gates.sweep_at = (gates.by_group.len() * 2).max(SWEEP_AT_LEAST);
        }
        let (concurrency, interval) = self.overrides.get(&group).copied().unwrap_or((None, None));
        let concurrency = concurrency.unwrap_or(self.default_concurrency);
        let gate = Arc::new(HostGate {
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            interval: interval.unwrap_or(self.default_interval),
            next_start: Mutex::new(Instant::now()),
            paused_until: Mutex::new(Instant::now()),
            blocked: Mutex::new(None),
        });
        gates.by_group.insert(group, Arc::clone(&gate));
        gate
    }

    /// Groups with a gate now.
    #[cfg(test)]
    fn hosts_tracked(&self) -> usize {
        self.gates
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .by_group
            .len()
    }

    /// Waits for a free slot in `host`'s group and for the group's gap to pass.
    pub async fn acquire(&self, host: &str) -> HostPermit {
        let gate = self.gate(host);
        let permit = Arc::clone(&gate.permits)
            .acquire_owned()
            .await
            .expect("host semaphores are never closed");
        loop {
            let start = {
                let mut next = gate.next_start.lock().unwrap_or_else(|p| p.into_inner());
                let start = (*next).max(Instant::now());
                *next = start + gate.interval;
                start
            };
            tokio::time::sleep_until(start).await;
            // A pause that came while this request waited: it takes a new
            // start after the pause (spaced like the others), not now.
            let paused_until = *gate.paused_until.lock().unwrap_or_else(|p| p.into_inner());
            if paused_until <= Instant::now() {
                return HostPermit { _permit: permit };
            }
        }
    }

    /// The host asked us to slow down (`Retry-After`): no request to any
    /// host of its group starts before `delay` has passed.
    pub fn pause(&self, host: &str, delay: Duration) {
        let gate = self.gate(host);
        let until = Instant::now() + delay.min(MAX_HOST_PAUSE);
        let mut paused = gate.paused_until.lock().unwrap_or_else(|p| p.into_inner());
        *paused = (*paused).max(until);
        let mut next = gate.next_start.lock().unwrap_or_else(|p| p.into_inner());
        if *next < until {
            *next = until;
        }
    }
}

impl HostLimiter {
    /// The host answered with a challenge or a wall: requests to any host
    /// of its group fail with `kind` until `delay` has passed.
    pub fn block(&self, host: &str, kind: BlockKind, delay: Duration) {
        let gate = self.gate(host);
        let until = Instant::now() + delay.min(MAX_HOST_PAUSE);
        let mut blocked = gate.blocked.lock().unwrap_or_else(|p| p.into_inner());
        if blocked.is_none_or(|(then, _)| then < until) {
            *blocked = Some((until, kind));
        }
    }

    /// What blocks `host`'s group now, if anything (without making it a gate).
    pub fn blocked(&self, host: &str) -> Option<BlockKind> {
        let group = self.group_of(host);
        let gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates
            .by_group
            .get(&group)
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

    fn grouped(fetch: &str) -> HostLimiter {
        let config: FetchConfig = toml::from_str(fetch).unwrap();
        HostLimiter::new(&config)
    }

    #[tokio::test(start_paused = true)]
    async fn hosts_of_one_domain_share_the_spacing_and_the_slots() {
        let limiter = Arc::new(grouped(
            "per_host_concurrency = 1\nper_host_interval = \"250ms\"",
        ));
        let t0 = Instant::now();
        let first = limiter.acquire("a.example.com").await;
        // Another host of the domain waits for the slot...
        let waiting = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire("b.example.com").await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        drop(first);
        drop(waiting.await.unwrap());
        // ...and for the gap: a third host starts one interval later.
        let t1 = Instant::now();
        let _c = limiter.acquire("C.Example.com").await;
        assert_eq!(Instant::now() - t1, Duration::from_millis(250));
        assert!(Instant::now() - t0 >= Duration::from_secs(5));
        // Another domain is not held up.
        let t2 = Instant::now();
        let _other = limiter.acquire("a.example.net").await;
        assert_eq!(Instant::now(), t2);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_and_blocks_hold_for_the_whole_group() {
        let limiter = grouped(
            "per_host_interval = \"0s\"\nhost_groups.fb = [\"feeds.feedburner.com\", \"feedproxy.google.com\"]",
        );
        limiter.pause("feeds.feedburner.com", Duration::from_secs(30));
        let t0 = Instant::now();
        let _p = limiter.acquire("feedproxy.google.com").await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(30));
        // google.com's other hosts are another group.
        let t1 = Instant::now();
        let _n = limiter.acquire("news.google.com").await;
        assert_eq!(Instant::now(), t1);

        limiter.block(
            "a.example.com",
            BlockKind::Datadome,
            Duration::from_secs(60),
        );
        assert_eq!(
            limiter.blocked("www.example.com"),
            Some(BlockKind::Datadome)
        );
        assert_eq!(limiter.blocked("example.com"), Some(BlockKind::Datadome));
        assert_eq!(limiter.blocked("www.example.org"), None);
        assert_eq!(limiter.blocked("news.google.com"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn overrides_set_the_group_budget() {
        let limiter = Arc::new(grouped(
            "per_host_concurrency = 1\nper_host_interval = \"0s\"\n\
             hosts.\"www.example.com\" = { concurrency = 2, interval = \"1s\" }",
        ));
        // Named by one host, the override holds for its domain's hosts.
        let t0 = Instant::now();
        let _a = limiter.acquire("a.example.com").await;
        let _b = limiter.acquire("b.example.com").await;
        assert_eq!(Instant::now() - t0, Duration::from_secs(1));
        let waiting = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move { limiter.acquire("c.example.com").await })
        };
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(!waiting.is_finished());
        // Other domains keep the defaults.
        let t1 = Instant::now();
        let _x = limiter.acquire("x.example.org").await;
        assert_eq!(Instant::now(), t1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_requests_already_given_a_start() {
        let limiter = Arc::new(grouped("per_host_interval = \"1s\""));
        let t0 = Instant::now();
        let _a = limiter.acquire("a.example.com").await;
        // b's start is t0 + 1s; c's t0 + 2s.
        let spawn = |host: &'static str| {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                let _permit = limiter.acquire(host).await;
                Instant::now()
            })
        };
        let b = spawn("b.example.com");
        let c = spawn("c.example.com");
        tokio::time::sleep(Duration::from_millis(500)).await;
        limiter.pause("a.example.com", Duration::from_secs(30));
        let (b, c) = (b.await.unwrap(), c.await.unwrap());
        let (first, second) = (b.min(c), b.max(c));
        assert!(
            first - t0 >= Duration::from_millis(30_500),
            "{:?}",
            first - t0
        );
        // Still spaced after the pause.
        assert!(second - first >= Duration::from_secs(1));
    }
}
