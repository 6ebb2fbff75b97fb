//! robots.txt for article pages: fetched once per origin, cached, honoured.
//!
//! Feeds are published to be polled, so only pages are checked. A missing
//! robots.txt (4xx) allows everything; one that cannot be fetched (5xx,
//! network) allows too, for a short while, so a flaky robots.txt never loses
//! a story: the story would only be published with its feed summary anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use texting_robots::Robot;
use tokio::sync::OnceCell;
use tokio::time::Instant;
use url::Url;

/// How long a fetched robots.txt is trusted.
const FRESH_FOR: Duration = Duration::from_secs(24 * 3600);
/// How long an unreachable robots.txt counts as "allow everything".
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(600);
/// Origins remembered at most; beyond, the cache starts again.
const MAX_ORIGINS: usize = 10_000;
/// The user-agent token matched against robots.txt groups.
pub const AGENT: &str = "feedwire";

/// What one origin's robots.txt says, once known.
pub enum Rules {
    AllowAll,
    Parsed(Box<Robot>),
}

impl Rules {
    pub fn from_body(body: &[u8]) -> Rules {
        match Robot::new(AGENT, body) {
            Ok(robot) => Rules::Parsed(Box::new(robot)),
            Err(_) => Rules::AllowAll,
        }
    }

    pub fn allows(&self, url: &Url) -> bool {
        match self {
            Rules::AllowAll => true,
            Rules::Parsed(robot) => robot.allowed(url.as_str()),
        }
    }
}

struct Entry {
    rules: OnceCell<(Rules, Duration)>,
    created: Instant,
}

#[derive(Default)]
pub struct RobotsCache {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
}

impl RobotsCache {
    /// The rules for `url`'s origin, fetching robots.txt with `fetch` (which
    /// returns its body, `None` for a 4xx, or an error) when not cached.
    pub async fn allows<F, Fut>(&self, url: &Url, fetch: F) -> bool
    where
        F: FnOnce(Url) -> Fut,
        Fut: std::future::Future<Output = Result<Option<Vec<u8>>, ()>>,
    {
        let origin = url.origin().ascii_serialization();
        let entry = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            let stale = entries.get(&origin).is_some_and(|e| {
                e.rules
                    .get()
                    .is_some_and(|(_, fresh_for)| e.created.elapsed() > *fresh_for)
            });
            if stale {
                entries.remove(&origin);
            }
            if entries.len() >= MAX_ORIGINS {
                entries.clear();
            }
            Arc::clone(entries.entry(origin.clone()).or_insert_with(|| {
                Arc::new(Entry {
                    rules: OnceCell::new(),
                    created: Instant::now(),
                })
            }))
        };
        let (rules, _) = entry
            .rules
            .get_or_init(|| async {
                let Ok(robots_url) = Url::parse(&origin).and_then(|o| o.join("/robots.txt")) else {
                    return (Rules::AllowAll, RETRY_AFTER_ERROR);
                };
                match fetch(robots_url).await {
                    Ok(Some(body)) => (Rules::from_body(&body), FRESH_FOR),
                    Ok(None) => (Rules::AllowAll, FRESH_FOR),
                    Err(()) => (Rules::AllowAll, RETRY_AFTER_ERROR),
                }
            })
            .await;
        rules.allows(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_longest_match() {
        let rules = Rules::from_body(
            b"User-agent: *\nDisallow: /private\n\nUser-agent: feedwire\nDisallow: /news/live\nAllow: /news/live/ok\n",
        );
        let url = |p: &str| Url::parse(&format!("https://a.example{p}")).unwrap();
        assert!(!rules.allows(&url("/news/live/123")));
        assert!(rules.allows(&url("/news/live/ok/1")));
        // Our own group applies, not `*`.
        assert!(rules.allows(&url("/private/x")));
        assert!(Rules::from_body(b"").allows(&url("/anything")));
    }

    #[tokio::test]
    async fn fetched_once_per_origin() {
        let cache = RobotsCache::default();
        let calls = std::sync::atomic::AtomicUsize::new(0);
        let fetch = |_url: Url| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok(Some(b"User-agent: *\nDisallow: /x".to_vec())) }
        };
        let a = Url::parse("https://a.example/x/1").unwrap();
        let b = Url::parse("https://a.example/y/1").unwrap();
        assert!(!cache.allows(&a, fetch).await);
        assert!(cache.allows(&b, fetch).await);
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        let missing = |_url: Url| async { Ok(None) };
        let c = Url::parse("https://c.example/x").unwrap();
        assert!(cache.allows(&c, missing).await);
    }
}
