//! When a feed is polled next: the policy, apart from the I/O that feeds it.
//!
//! The interval starts from the feed's own pace (the median gap between its
//! recent items, stretched when it has gone quiet), or from an explicit
//! per-feed `interval`, or from `poll.default_interval` when neither is
//! known. What the publisher asks for — RSS `<ttl>`, `Cache-Control:
//! max-age`, `Expires` — is a floor. The result is clamped to the feed's
//! `min_interval`/`max_interval`: the operator's bounds win over the
//! publisher's hints, so `max_interval` is a promise that a feed is never
//! polled less often. An explicit `interval` pins both bounds unless they are
//! set too. Then about ±10% jitter, and `skipHours`/`skipDays` move the time
//! past the hours the publisher asked to be left alone.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};

use crate::feed::FeedItem;
pub use crate::feed::SkipSchedule;

mod state;

pub use state::{FeedHealth, FeedState, LastStatus, PollOutcome, PollVerdict};

/// Items looked at for the feed's pace: enough for a stable median, few
/// enough that an old archive at the end of a feed does not count.
const PACE_ITEMS: usize = 10;
/// Item dates this far in the future are clock or time-zone errors.
const FUTURE_SLACK_MS: i64 = 3_600_000;

/// The bounds and base interval of one feed, resolved from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntervalPolicy {
    /// The per-feed `interval`, which replaces the observed pace.
    pub fixed: Option<Duration>,
    /// Used until the feed's pace is known (no dated items yet).
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
    /// Follow the feed's publishing pace (`poll.adaptive`).
    pub adaptive: bool,
}

impl IntervalPolicy {
    /// The interval before hints and jitter: fixed, else the feed's pace,
    /// else the default; clamped to the bounds.
    pub fn base(&self, pace: &Pace, now_ms: i64) -> Duration {
        let base = self
            .fixed
            .or_else(|| self.adaptive.then(|| pace.interval(now_ms)).flatten())
            .unwrap_or(self.default);
        self.clamp(base)
    }

    /// The interval after a successful poll: the base, raised to the
    /// publisher's floor (`<ttl>`, the response's freshness lifetime),
    /// within the bounds.
    pub fn interval(
        &self,
        pace: &Pace,
        ttl: Option<Duration>,
        http_fresh_for: Option<Duration>,
        now_ms: i64,
    ) -> Duration {
        let base = self.base(pace, now_ms);
        let floor = publisher_floor(ttl, http_fresh_for);
        self.clamp(floor.map_or(base, |floor| base.max(floor)))
    }

    fn clamp(&self, interval: Duration) -> Duration {
        // `min > max` is refused by config validation; `max` wins if it slips.
        interval.max(self.min).min(self.max)
    }
}

/// What the scheduler keeps of a feed's publishing pace between polls (a
/// 304 carries no items, so the last body's figures are reused).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pace {
    /// Median gap between the most recent dated items, ms.
    pub median_gap_ms: Option<i64>,
    /// Date of the newest item, Unix ms.
    pub newest_item_ms: Option<i64>,
}

impl Pace {
    /// The pace of a feed from its items (published, else updated date).
    pub fn of_items(items: &[FeedItem], now_ms: i64) -> Pace {
        Pace::of_dates(
            items.iter().filter_map(|i| i.published.or(i.updated)),
            now_ms,
        )
    }

    /// The pace of a feed from its items' dates.
    pub fn of_dates(dates: impl IntoIterator<Item = DateTime<Utc>>, now_ms: i64) -> Pace {
        let mut dates: Vec<i64> = dates
            .into_iter()
            .map(|d| d.timestamp_millis())
            .filter(|&ms| ms <= now_ms + FUTURE_SLACK_MS)
            .collect();
        dates.sort_unstable_by(|a, b| b.cmp(a));
        dates.dedup();
        dates.truncate(PACE_ITEMS);
        let mut gaps: Vec<i64> = dates.windows(2).map(|w| w[0] - w[1]).collect();
        gaps.sort_unstable();
        Pace {
            median_gap_ms: (!gaps.is_empty()).then(|| gaps[gaps.len() / 2]),
            newest_item_ms: dates.first().copied(),
        }
    }

    /// Poll about twice per expected gap between items. A feed silent for
    /// longer than its usual gap is taken to have slowed down: half the
    /// silence counts as the gap then.
    pub fn interval(&self, now_ms: i64) -> Option<Duration> {
        let gap = self.median_gap_ms?;
        let silence = self
            .newest_item_ms
            .map_or(0, |newest| (now_ms - newest).max(0));
        let expected = gap.max(silence / 2);
        Some(Duration::from_millis((expected / 2).max(0) as u64))
    }
}

/// The publisher's "not before": the largest of RSS `<ttl>` and the HTTP
/// freshness lifetime of the response.
fn publisher_floor(ttl: Option<Duration>, http_fresh_for: Option<Duration>) -> Option<Duration> {
    match (ttl, http_fresh_for) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The interval with about ±10% jitter, so feeds do not poll in lockstep.
pub fn jittered(interval: Duration, rng: &mut fastrand::Rng) -> Duration {
    let factor = 0.9 + rng.f64() * 0.2;
    interval.mul_f64(factor)
}

/// When to poll after a success: `now` + the jittered interval, moved past
/// skipped hours and days.
pub fn next_due(
    now_ms: i64,
    interval: Duration,
    skip: SkipSchedule,
    rng: &mut fastrand::Rng,
) -> i64 {
    not_skipped(
        now_ms.saturating_add(jittered(interval, rng).as_millis() as i64),
        skip,
    )
}

/// `at_ms`, or the end of the skipped hours and days it falls in.
pub fn not_skipped(at_ms: i64, skip: SkipSchedule) -> i64 {
    match DateTime::from_timestamp_millis(at_ms) {
        Some(at) => skip.next_allowed(at).timestamp_millis(),
        None => at_ms,
    }
}

/// Exponential backoff for a failing feed: interval (at most a minute) ×
/// 2^(failures-1), capped, with ±10% jitter. The feed is never given up: it
/// recovers on its own. The failure count is persisted, so the delay is the
/// n-th step of backon's exponential sequence rather than a retry loop.
pub fn failure_backoff(
    interval: Duration,
    failures: u32,
    cap: Duration,
    rng: &mut fastrand::Rng,
) -> Duration {
    let first = interval.min(Duration::from_secs(60)).min(cap);
    let step = failures.saturating_sub(1).min(64) as usize;
    let delay = ExponentialBuilder::new()
        .with_min_delay(first)
        .with_max_delay(cap)
        .with_factor(2.0)
        .without_max_times()
        .build()
        .nth(step)
        .unwrap_or(cap);
    jittered(delay, rng)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn policy() -> IntervalPolicy {
        IntervalPolicy {
            fixed: None,
            default: Duration::from_secs(300),
            min: Duration::from_secs(120),
            max: Duration::from_secs(6 * 3600),
            adaptive: true,
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).unwrap()
    }

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn pace_is_the_median_gap_of_recent_items() {
        // Items every 20 minutes, one burst pair 1 minute apart, one in the
        // far future (a time-zone error) which is ignored.
        let dates = [0, 20, 40, 41, 60, 80, 100]
            .map(|m| at(NOW - 100 * MIN + m * MIN))
            .into_iter()
            .chain([at(NOW + 10 * HOUR)]);
        let pace = Pace::of_dates(dates, NOW);
        assert_eq!(pace.median_gap_ms, Some(20 * MIN));
        assert_eq!(pace.newest_item_ms, Some(NOW));
        assert_eq!(pace.interval(NOW), Some(Duration::from_secs(600)));
    }

    #[test]
    fn a_quiet_feed_is_polled_less_often() {
        let pace = Pace {
            median_gap_ms: Some(20 * MIN),
            newest_item_ms: Some(NOW - 8 * HOUR),
        };
        // Silent for 8 h: expected gap 4 h, polled every 2 h.
        assert_eq!(pace.interval(NOW), Some(Duration::from_secs(2 * 3600)));
        // And never beyond max_interval.
        let pace = Pace {
            newest_item_ms: Some(NOW - 30 * 24 * HOUR),
            ..pace
        };
        assert_eq!(policy().base(&pace, NOW), Duration::from_secs(6 * 3600));
    }

    #[test]
    fn unknown_pace_uses_the_default_and_fast_feeds_the_minimum() {
        assert_eq!(
            policy().base(&Pace::default(), NOW),
            Duration::from_secs(300)
        );
        let one_date = Pace::of_dates([at(NOW)], NOW);
        assert_eq!(one_date.interval(NOW), None);
        let busy = Pace {
            median_gap_ms: Some(MIN),
            newest_item_ms: Some(NOW),
        };
        assert_eq!(policy().base(&busy, NOW), Duration::from_secs(120));
        let fixed_pace = IntervalPolicy {
            adaptive: false,
            ..policy()
        };
        assert_eq!(fixed_pace.base(&busy, NOW), Duration::from_secs(300));
    }

    #[test]
    fn publisher_hints_are_floors_within_the_bounds() {
        let pace = Pace::default();
        let ttl = Some(Duration::from_secs(15 * 60));
        assert_eq!(
            policy().interval(&pace, ttl, None, NOW),
            Duration::from_secs(15 * 60)
        );
        // A floor below the base changes nothing.
        assert_eq!(
            policy().interval(&pace, None, Some(Duration::from_secs(10)), NOW),
            Duration::from_secs(300)
        );
        // max_interval is the operator's promise, above any hint.
        let day = Some(Duration::from_secs(86_400));
        assert_eq!(
            policy().interval(&pace, day, None, NOW),
            Duration::from_secs(6 * 3600)
        );
        assert_eq!(
            publisher_floor(ttl, Some(Duration::from_secs(1800))),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(publisher_floor(None, None), None);
    }

    #[test]
    fn skipped_hours_and_days_move_the_poll() {
        // 2026-11-28 is a Saturday.
        let saturday_0130 = DateTime::parse_from_rfc3339("2026-11-28T01:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let night = SkipSchedule {
            hours: 0b1111 << 1, // 01:00-04:59
            days: 0,
        };
        assert_eq!(
            night.next_allowed(saturday_0130).to_rfc3339(),
            "2026-11-28T05:00:00+00:00"
        );
        let weekend = SkipSchedule {
            hours: 0,
            days: 0b110_0000, // Saturday, Sunday
        };
        assert_eq!(
            weekend.next_allowed(saturday_0130).to_rfc3339(),
            "2026-11-30T00:00:00+00:00"
        );
        let allowed = SkipSchedule::default();
        assert_eq!(allowed.next_allowed(saturday_0130), saturday_0130);
        let never = SkipSchedule {
            hours: SkipSchedule::ALL_HOURS,
            days: 0,
        };
        assert_eq!(never.next_allowed(saturday_0130), saturday_0130);
        let due = next_due(
            saturday_0130.timestamp_millis(),
            Duration::from_secs(60),
            night,
            &mut fastrand::Rng::new(),
        );
        assert_eq!(
            at(due).to_rfc3339(),
            "2026-11-28T05:00:00+00:00",
            "a due time inside a skipped hour moves to its end"
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        let mut rng = fastrand::Rng::new();
        for _ in 0..1000 {
            let j = jittered(Duration::from_secs(100), &mut rng);
            assert!(j >= Duration::from_secs(90) && j <= Duration::from_secs(110));
        }
    }

    #[test]
    fn backoff_grows_to_the_cap() {
        let interval = Duration::from_secs(300);
        let cap = Duration::from_secs(3600);
        let rng = &mut fastrand::Rng::new();
        let within = |d: Duration, expected: u64| {
            let expected = Duration::from_secs(expected);
            assert!(
                d >= expected.mul_f64(0.9) && d <= expected.mul_f64(1.1),
                "{d:?}"
            );
        };
        within(failure_backoff(interval, 1, cap, rng), 60);
        within(failure_backoff(interval, 2, cap, rng), 120);
        within(failure_backoff(interval, 3, cap, rng), 240);
        within(failure_backoff(interval, 30, cap, rng), 3600);
        within(failure_backoff(Duration::from_secs(5), 4, cap, rng), 40);
    }
}
