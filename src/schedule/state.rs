//! What the scheduler remembers about a feed, and how one poll changes it:
//! a pure function of the feed's state, what the poll came to, the policy
//! and the time, so every rule (backoff, dead feeds, publisher floors) is
//! tested without a server.

use std::fmt;
use std::time::Duration;

use super::{IntervalPolicy, Pace, SkipSchedule, failure_backoff, next_due};

/// 404s in a row after which a feed is taken for gone.
pub const DEAD_AFTER_404S: u32 = 3;
/// A dead feed is still tried this often, so one that comes back recovers.
pub const DEAD_RECHECK: Duration = Duration::from_secs(24 * 3600);

/// How the last poll of a feed ended, as the store keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastStatus {
    /// 200, parsed.
    Fetched,
    /// 304.
    NotModified,
    /// Another HTTP status (404, 500, ...).
    Http(u16),
    /// No HTTP status: a timeout, a refused connection, an unparseable body.
    Error,
    /// Gone: 410, or 404 again and again. Tried once a day.
    Dead,
}

impl LastStatus {
    /// Parses what [`fmt::Display`] writes (the store's text).
    pub fn parse(text: &str) -> Option<LastStatus> {
        Some(match text {
            "200" => LastStatus::Fetched,
            "304" => LastStatus::NotModified,
            "error" => LastStatus::Error,
            "dead" => LastStatus::Dead,
            code => LastStatus::Http(code.parse().ok().filter(|c| (100..600).contains(c))?),
        })
    }
}

impl fmt::Display for LastStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LastStatus::Fetched => f.write_str("200"),
            LastStatus::NotModified => f.write_str("304"),
            LastStatus::Http(code) => write!(f, "{code}"),
            LastStatus::Error => f.write_str("error"),
            LastStatus::Dead => f.write_str("dead"),
        }
    }
}

/// What the scheduler remembers about one feed between polls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedState {
    pub feed_id: String,
    pub url: String,
    pub title: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Unix milliseconds.
    pub next_due_ms: i64,
    pub consecutive_failures: u32,
    pub last_polled_ms: Option<i64>,
    pub last_status: Option<LastStatus>,
    pub last_error: Option<String>,
    /// Where the feed moved permanently (301/308); polled there from then on.
    pub moved_url: Option<String>,
    /// The publishing pace seen in the last parsed body (a 304 has none).
    pub pace: Pace,
    /// RSS `<ttl>` of the last parsed body, ms.
    pub ttl_ms: Option<i64>,
    /// RSS `skipHours`/`skipDays` of the last parsed body.
    pub skip: SkipSchedule,
}

/// A feed's health, for operators and the feeds-by-state gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedHealth {
    Healthy,
    BackingOff,
    Dead,
}

impl FeedHealth {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedHealth::Healthy => "healthy",
            FeedHealth::BackingOff => "backing_off",
            FeedHealth::Dead => "dead",
        }
    }
}

/// What one poll came to.
#[derive(Debug, Clone, PartialEq)]
pub enum PollOutcome {
    /// 304: the validators and freshness of the response; nothing parsed.
    NotModified {
        etag: Option<String>,
        last_modified: Option<String>,
        moved_to: Option<String>,
        fresh_for: Option<Duration>,
    },
    /// 200, parsed and recorded: what the body said about its schedule.
    Fetched {
        etag: Option<String>,
        last_modified: Option<String>,
        moved_to: Option<String>,
        fresh_for: Option<Duration>,
        title: Option<String>,
        pace: Pace,
        ttl: Option<Duration>,
        skip: SkipSchedule,
    },
    /// The fetch, the parse or the store failed.
    Failed {
        /// For metrics (`timeout`, `status`, `parse`, `store`, ...).
        kind: &'static str,
        error: String,
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
}

/// What a poll did to the feed, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollVerdict {
    Fetched,
    NotModified,
    /// Failed; polled again after this backoff.
    Failed {
        retry_in: Duration,
    },
    /// Failed and now taken for gone (410, or the third 404 in a row).
    Dead,
}

impl PollVerdict {
    /// The `polls_total{outcome}` label.
    pub fn label(self) -> &'static str {
        match self {
            PollVerdict::Fetched => "ok",
            PollVerdict::NotModified => "not_modified",
            PollVerdict::Failed { .. } | PollVerdict::Dead => "error",
        }
    }
}

impl FeedState {
    /// The state of a feed never polled.
    pub fn new(feed_id: &str, url: &str) -> FeedState {
        FeedState {
            feed_id: feed_id.to_string(),
            url: url.to_string(),
            ..FeedState::default()
        }
    }

    pub fn health(&self) -> FeedHealth {
        if self.last_status == Some(LastStatus::Dead) {
            FeedHealth::Dead
        } else if self.consecutive_failures > 0 {
            FeedHealth::BackingOff
        } else {
            FeedHealth::Healthy
        }
    }

    /// Where to poll: where the feed moved permanently, else its URL.
    pub fn poll_url(&self) -> &str {
        self.moved_url.as_deref().unwrap_or(&self.url)
    }

    /// Applies one poll that started at `now_ms` and plans the next.
    pub fn after_poll(
        &mut self,
        outcome: PollOutcome,
        policy: &IntervalPolicy,
        max_backoff: Duration,
        now_ms: i64,
        rng: &mut fastrand::Rng,
    ) -> PollVerdict {
        // The interval the feed was on when it was polled: a failure backs
        // off from it.
        let interval = policy.base(&self.pace, now_ms);
        self.last_polled_ms = Some(now_ms);
        let (verdict, fresh_for) = match outcome {
            PollOutcome::NotModified {
                etag,
                last_modified,
                moved_to,
                fresh_for,
            } => {
                self.validated(etag, last_modified, moved_to);
                self.last_status = Some(LastStatus::NotModified);
                (PollVerdict::NotModified, fresh_for)
            }
            PollOutcome::Fetched {
                etag,
                last_modified,
                moved_to,
                fresh_for,
                title,
                pace,
                ttl,
                skip,
            } => {
                self.validated(etag, last_modified, moved_to);
                self.title = title;
                self.pace = pace;
                self.ttl_ms = ttl.map(|t| t.as_millis() as i64);
                self.skip = skip;
                self.last_status = Some(LastStatus::Fetched);
                (PollVerdict::Fetched, fresh_for)
            }
            PollOutcome::Failed {
                error,
                status,
                retry_after,
                ..
            } => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.last_error = Some(error);
                let repeated_404 = status == Some(404)
                    && self.consecutive_failures >= DEAD_AFTER_404S
                    && matches!(
                        self.last_status,
                        Some(LastStatus::Http(404) | LastStatus::Dead)
                    );
                if status == Some(410) || repeated_404 {
                    self.last_status = Some(LastStatus::Dead);
                    self.next_due_ms = now_ms + DEAD_RECHECK.as_millis() as i64;
                    return PollVerdict::Dead;
                }
                let backoff =
                    failure_backoff(interval, self.consecutive_failures, max_backoff, rng);
                let retry_in = retry_after.map_or(backoff, |ra| ra.max(backoff));
                self.last_status = Some(status.map_or(LastStatus::Error, LastStatus::Http));
                self.next_due_ms = now_ms + retry_in.as_millis() as i64;
                return PollVerdict::Failed { retry_in };
            }
        };
        self.consecutive_failures = 0;
        self.last_error = None;
        let ttl = self
            .ttl_ms
            .map(|ms| Duration::from_millis(ms.max(0) as u64));
        let interval = policy.interval(&self.pace, ttl, fresh_for, now_ms);
        self.next_due_ms = next_due(now_ms, interval, self.skip, rng);
        verdict
    }

    fn validated(
        &mut self,
        etag: Option<String>,
        last_modified: Option<String>,
        moved_to: Option<String>,
    ) {
        self.etag = etag;
        self.last_modified = last_modified;
        if moved_to.is_some() {
            self.moved_url = moved_to;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_780_000_000_000;
    const MIN: Duration = Duration::from_secs(60);

    fn policy() -> IntervalPolicy {
        IntervalPolicy {
            fixed: None,
            default: 5 * MIN,
            min: 2 * MIN,
            max: 360 * MIN,
            adaptive: true,
        }
    }

    fn failed(status: Option<u16>) -> PollOutcome {
        PollOutcome::Failed {
            kind: "status",
            error: "boom".into(),
            status,
            retry_after: None,
        }
    }

    fn not_modified(fresh_for: Option<Duration>) -> PollOutcome {
        PollOutcome::NotModified {
            etag: Some("\"v2\"".into()),
            last_modified: None,
            moved_to: None,
            fresh_for,
        }
    }

    fn poll(state: &mut FeedState, outcome: PollOutcome) -> PollVerdict {
        state.after_poll(
            outcome,
            &policy(),
            360 * MIN,
            NOW,
            &mut fastrand::Rng::with_seed(7),
        )
    }

    fn due_in(state: &FeedState) -> Duration {
        Duration::from_millis((state.next_due_ms - NOW) as u64)
    }

    #[test]
    fn three_404s_in_a_row_make_a_feed_dead_and_a_success_revives_it() {
        let mut state = FeedState::new("f", "https://x.example/feed");
        assert!(matches!(
            poll(&mut state, failed(Some(404))),
            PollVerdict::Failed { .. }
        ));
        assert!(matches!(
            poll(&mut state, failed(Some(404))),
            PollVerdict::Failed { .. }
        ));
        assert_eq!(state.health(), FeedHealth::BackingOff);
        assert_eq!(poll(&mut state, failed(Some(404))), PollVerdict::Dead);
        assert_eq!(state.health(), FeedHealth::Dead);
        assert_eq!(due_in(&state), DEAD_RECHECK);
        // Still gone a day later: still dead.
        assert_eq!(poll(&mut state, failed(Some(404))), PollVerdict::Dead);
        assert_eq!(
            poll(&mut state, not_modified(None)),
            PollVerdict::NotModified
        );
        assert_eq!(state.health(), FeedHealth::Healthy);
        assert_eq!(state.consecutive_failures, 0);
        assert_eq!(state.last_error, None);
    }

    #[test]
    fn a_404_between_other_failures_does_not_kill_a_feed() {
        let mut state = FeedState::new("f", "u");
        poll(&mut state, failed(Some(500)));
        poll(&mut state, failed(Some(500)));
        assert!(matches!(
            poll(&mut state, failed(Some(404))),
            PollVerdict::Failed { .. }
        ));
        assert_eq!(state.last_status, Some(LastStatus::Http(404)));
        assert_eq!(poll(&mut state, failed(Some(410))), PollVerdict::Dead);
    }

    #[test]
    fn failures_back_off_from_the_interval_and_honour_retry_after() {
        let mut state = FeedState::new("f", "u");
        let PollVerdict::Failed { retry_in } = poll(&mut state, failed(None)) else {
            panic!("a failure")
        };
        assert!(retry_in >= MIN.mul_f64(0.9) && retry_in <= MIN.mul_f64(1.1));
        assert_eq!(state.last_status, Some(LastStatus::Error));
        let PollVerdict::Failed { retry_in } = poll(
            &mut state,
            PollOutcome::Failed {
                kind: "status",
                error: "busy".into(),
                status: Some(503),
                retry_after: Some(30 * MIN),
            },
        ) else {
            panic!("a failure")
        };
        assert_eq!(retry_in, 30 * MIN);
        assert_eq!(due_in(&state), 30 * MIN);
    }

    #[test]
    fn a_fetch_records_what_the_body_said_and_plans_from_it() {
        let mut state = FeedState::new("f", "u");
        state.consecutive_failures = 4;
        let verdict = poll(
            &mut state,
            PollOutcome::Fetched {
                etag: Some("\"a\"".into()),
                last_modified: Some("Mon, 30 Nov 2026 08:00:00 GMT".into()),
                moved_to: Some("https://y.example/feed".into()),
                fresh_for: None,
                title: Some("Feed".into()),
                pace: Pace::default(),
                ttl: Some(60 * MIN),
                skip: SkipSchedule::default(),
            },
        );
        assert_eq!(verdict, PollVerdict::Fetched);
        assert_eq!(state.consecutive_failures, 0);
        assert_eq!(state.poll_url(), "https://y.example/feed");
        assert_eq!(state.ttl_ms, Some(3_600_000));
        // The <ttl> is a floor: an hour, give or take the jitter.
        let due = due_in(&state);
        assert!(
            due >= (60 * MIN).mul_f64(0.9) && due <= (60 * MIN).mul_f64(1.1),
            "{due:?}"
        );
        // A 304 keeps the body's ttl, and the response's freshness raises it.
        poll(&mut state, not_modified(Some(120 * MIN)));
        let due = due_in(&state);
        assert!(
            due >= (120 * MIN).mul_f64(0.9) && due <= (120 * MIN).mul_f64(1.1),
            "{due:?}"
        );
        assert_eq!(state.etag.as_deref(), Some("\"v2\""));
        assert_eq!(state.poll_url(), "https://y.example/feed", "a move is kept");
    }

    #[test]
    fn last_status_round_trips_through_its_text() {
        for status in [
            LastStatus::Fetched,
            LastStatus::NotModified,
            LastStatus::Http(404),
            LastStatus::Error,
            LastStatus::Dead,
        ] {
            assert_eq!(LastStatus::parse(&status.to_string()), Some(status));
        }
        assert_eq!(LastStatus::parse("teapot"), None);
        assert_eq!(LastStatus::parse("42"), None);
    }
}
