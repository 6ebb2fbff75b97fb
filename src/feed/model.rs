//! Output model of the feed parser.

use std::time::Duration;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Syndication format of a parsed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    Rss0,
    Rss1,
    Rss2,
    Atom,
    JsonFeed,
}

/// A parsed feed: channel-level metadata plus items in document order.
#[derive(Debug, Clone)]
pub struct ParsedFeed {
    pub format: FeedFormat,
    pub title: Option<String>,
    pub language: Option<String>,
    /// RSS `<ttl>`.
    pub ttl_minutes: Option<u32>,
    /// RSS `<skipHours>` / `<skipDays>`.
    pub skip: SkipSchedule,
    /// Feed-level links other than the site's: `(rel, absolute href)`, for
    /// RFC 5005 paging and archives (`next`, `prev-archive`, `self`, ...).
    pub links: Vec<(String, String)>,
    /// Document order; duplicates are NOT removed here (the caller dedups).
    pub items: Vec<FeedItem>,
}

/// One item/entry.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeedItem {
    /// The item's own guid/id as written (trimmed); `None` when the document has none.
    pub guid: Option<String>,
    /// Absolute URL of the alternate/first http(s) link (or a permalink guid).
    pub link: Option<String>,
    /// Plain text: tags stripped, entities decoded, whitespace collapsed.
    pub title: Option<String>,
    /// Plain text of description/summary (HTML stripped, paragraphs -> "\n\n").
    pub summary: Option<String>,
    /// Full content (content:encoded, Atom content, JSON Feed content_html/content_text) when present.
    pub content_html: Option<String>,
    pub authors: Vec<String>,
    pub published: Option<chrono::DateTime<chrono::Utc>>,
    pub updated: Option<chrono::DateTime<chrono::Utc>>,
    /// media:thumbnail / media:content image / enclosure image / JSON Feed image, absolute.
    pub image: Option<String>,
    pub categories: Vec<String>,
}

/// Why a body could not be turned into a feed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("not a feed: {0}")]
    NotAFeed(String),
    #[error("malformed feed: {0}")]
    Malformed(String),
}

/// RSS `skipHours` and `skipDays`: when the publisher asks not to be polled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkipSchedule {
    /// Bit `h` set: skip the hour `h` (0–23, GMT).
    pub hours: u32,
    /// Bit `d` set: skip the day `d` (0 = Monday, GMT).
    pub days: u8,
}

impl SkipSchedule {
    pub(crate) const ALL_HOURS: u32 = (1 << 24) - 1;
    const ALL_DAYS: u8 = (1 << 7) - 1;

    fn skips(&self, at: DateTime<Utc>) -> bool {
        self.hours & (1 << at.hour()) != 0
            || self.days & (1 << at.weekday().num_days_from_monday()) != 0
    }

    /// The first time at or after `at` that is not skipped. A schedule that
    /// skips every hour or every day is ignored: the feed must still be polled.
    pub fn next_allowed(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.hours & Self::ALL_HOURS == Self::ALL_HOURS
            || self.days & Self::ALL_DAYS == Self::ALL_DAYS
        {
            return at;
        }
        let mut t = at;
        // At most a week of hours to step over.
        for _ in 0..(24 * 7) {
            if !self.skips(t) {
                return t;
            }
            let into_hour = Duration::from_secs(u64::from(t.minute() * 60 + t.second()))
                + Duration::from_nanos(u64::from(t.nanosecond()));
            t = t + chrono::Duration::hours(1)
                - chrono::Duration::from_std(into_hour).unwrap_or_default();
        }
        at
    }
}
