//! Output model of the feed parser.

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
    pub skip: crate::schedule::SkipSchedule,
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
