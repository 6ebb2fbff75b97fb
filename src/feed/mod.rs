//! Feed parsing: RSS 0.9x/1.0/2.0, Atom 0.3/1.0 and JSON Feed 1.x into a flat model.
//!
//! The heavy lifting is feed-rs; this module makes real-world documents
//! palatable to it first (`prepare`: `charset`, then `json_feed`
//! normalisation or the XML `rewrite`s and the `repair` of truncated
//! documents), reads what it drops (`scan`: skip hours and days, item
//! thumbnails), and then maps its model to ours (plain-text
//! titles/summaries, absolute links, images, dates via the lenient
//! `text::dates` parser).

mod json_feed;
mod model;
mod opml;
mod prepare;
mod repair;
mod rewrite;
mod scan;
mod text;

pub use crate::text::dates::parse_date;
pub use model::{FeedError, FeedFormat, FeedItem, ParsedFeed, SkipSchedule};
pub use opml::{Subscription, parse_opml, write_opml};
pub use prepare::{MAX_ELEMENTS, MAX_ITEMS};
pub use text::html_to_text;

use feed_rs::model::{Entry, Feed, FeedType, Link};
use feed_rs::parser::{ParseErrorKind, ParseFeedError};
use prepare::DocKind;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use url::Url;

/// Parse a feed document.
///
/// `content_type`: the HTTP Content-Type header if any (may carry a charset).
/// `feed_url`: base for relative links.
pub fn parse_feed(
    body: &[u8],
    content_type: Option<&str>,
    feed_url: Option<&Url>,
) -> Result<ParsedFeed, FeedError> {
    let prepared = prepare::prepare(body, content_type).map_err(FeedError::NotAFeed)?;
    let feed = match prepared.kind {
        DocKind::Json => match prepared.invalid_json {
            Some(e) => return Err(json_error(&prepared.text, Failure::Json(e))),
            None => {
                run_feed_rs(&prepared.text, feed_url).map_err(|e| json_error(&prepared.text, e))?
            }
        },
        DocKind::Xml => match parse_xml_with_repairs(&prepared.text, feed_url) {
            Ok(feed) => feed,
            Err(Failure::Parse(ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot))) => {
                let root = rewrite::root_element_name(&prepared.text).unwrap_or("?");
                let local = root.rsplit(':').next().unwrap_or(root);
                // A well-formed <rss> without a <channel> (or an empty RDF) is an empty feed.
                return match local {
                    "rss" => Ok(empty_feed(FeedFormat::Rss2)),
                    "RDF" => Ok(empty_feed(FeedFormat::Rss1)),
                    _ => Err(FeedError::NotAFeed(format!(
                        "no feed root element (root is <{root}>)"
                    ))),
                };
            }
            Err(e) => return Err(FeedError::Malformed(e.to_string())),
        },
    };
    let format = match feed.feed_type {
        FeedType::Atom => FeedFormat::Atom,
        FeedType::JSON => FeedFormat::JsonFeed,
        FeedType::RSS0 => FeedFormat::Rss0,
        FeedType::RSS1 if prepared.rss090 => FeedFormat::Rss0,
        FeedType::RSS1 => FeedFormat::Rss1,
        FeedType::RSS2 => match rewrite::rss_version(&prepared.text).as_deref() {
            Some(v) if v.starts_with("0.9") => FeedFormat::Rss0,
            _ => FeedFormat::Rss2,
        },
    };
    let (skip, images, json_links) = match prepared.kind {
        DocKind::Xml => {
            let scanned = scan::scan(&prepared.text);
            (scanned.skip, scanned.images, Vec::new())
        }
        DocKind::Json => {
            let (images, links) = json_feed::extras(&prepared.text);
            (Default::default(), images, links)
        }
    };
    let extras = Extras { images };
    // Only trust positional extras when they line up with feed-rs's entries.
    let extras = if extras.images.len() == feed.entries.len() {
        extras
    } else {
        Extras::default()
    };
    let mut parsed = map_feed(feed, format, feed_url, &extras);
    for (rel, href) in json_links {
        let absolute = match feed_url {
            Some(base) => base.join(&href).ok(),
            None => url::Url::parse(&href).ok(),
        };
        if let Some(absolute) = absolute.map(String::from)
            && !parsed
                .links
                .iter()
                .any(|(r, h)| *r == rel && *h == absolute)
        {
            parsed.links.push((rel, absolute));
        }
    }
    Ok(ParsedFeed { skip, ..parsed })
}

enum Failure {
    Parse(ParseFeedError),
    /// Not JSON, or not a JSON object (found before feed-rs is asked).
    Json(String),
    Panic,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Parse(e) => write!(f, "{e}"),
            Failure::Json(e) => write!(f, "invalid JSON: {e}"),
            Failure::Panic => f.write_str("feed parser panicked"),
        }
    }
}

fn run_feed_rs(text: &str, feed_url: Option<&Url>) -> Result<Feed, Failure> {
    let parser = feed_rs::parser::Builder::new()
        .base_uri(feed_url.map(Url::as_str))
        .id_generator(|_, _, _| String::new())
        .timestamp_parser(parse_date)
        .sanitize_content(false)
        .build();
    match catch_unwind(AssertUnwindSafe(|| parser.parse(text.as_bytes()))) {
        Ok(Ok(feed)) => Ok(feed),
        Ok(Err(e)) => Err(Failure::Parse(e)),
        Err(_) => Err(Failure::Panic),
    }
}

fn empty_feed(format: FeedFormat) -> ParsedFeed {
    ParsedFeed {
        format,
        title: None,
        language: None,
        ttl_minutes: None,
        skip: Default::default(),
        links: Vec::new(),
        items: Vec::new(),
    }
}

/// Parse XML; on failure retry with repairs: unsupported content types relaxed,
/// stray ampersands escaped, truncated documents cut after the last complete
/// item and closed. The first error is returned if no repair helps.
fn parse_xml_with_repairs(text: &str, feed_url: Option<&Url>) -> Result<Feed, Failure> {
    let first = match run_feed_rs(text, feed_url) {
        Ok(feed) => return Ok(feed),
        Err(e @ Failure::Parse(ParseFeedError::ParseError(ParseErrorKind::NoFeedRoot))) => {
            return Err(e);
        }
        Err(e) => e,
    };
    let mut current = text.to_string();
    let mut last = first;
    for _ in 0..6 {
        let next = match &last {
            Failure::Parse(ParseFeedError::ParseError(ParseErrorKind::UnknownMimeType {
                mime,
                ..
            })) => repair::relax_content_type(&current, mime),
            _ => None,
        }
        .or_else(|| repair::escape_stray_ampersands(&current))
        .or_else(|| repair::repair_truncated(&current));
        let Some(next) = next else { break };
        current = next;
        match run_feed_rs(&current, feed_url) {
            Ok(feed) => return Ok(feed),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn json_error(text: &str, e: Failure) -> FeedError {
    let looks_like_json_feed = text.contains("jsonfeed.org/version");
    match e {
        Failure::Parse(ParseFeedError::JsonUnsupportedVersion(v)) => {
            FeedError::NotAFeed(format!("unsupported JSON Feed version {v:?}"))
        }
        other if !looks_like_json_feed => {
            FeedError::NotAFeed(format!("JSON document is not a JSON Feed: {other}"))
        }
        other => FeedError::Malformed(other.to_string()),
    }
}

/// Fields feed-rs drops (JSON Feed `image`, lone `media:thumbnail`), by item position.
#[derive(Default)]
struct Extras {
    images: Vec<Option<String>>,
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn is_html_type(t: &feed_rs::model::Text) -> bool {
    let sub = t.content_type.subty().as_str().to_ascii_lowercase();
    sub == "html" || sub.contains("xhtml")
}

/// Resolve `href` against the entry's xml:base / the feed URL; keep only http(s).
fn absolute_http(href: &str, base: Option<&Url>) -> Option<String> {
    let href = href.trim();
    if href.is_empty() {
        return None;
    }
    let url = match Url::parse(href) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => base?.join(href).ok()?,
        Err(_) => return None,
    };
    matches!(url.scheme(), "http" | "https").then(|| url.to_string())
}

fn entry_base(entry: &Entry, feed_url: Option<&Url>) -> Option<Url> {
    match entry.base.as_deref() {
        Some(b) => match Url::parse(b) {
            Ok(u) => Some(u),
            Err(_) => feed_url.and_then(|f| f.join(b).ok()),
        },
        None => feed_url.cloned(),
    }
}

fn pick_link(links: &[Link], base: Option<&Url>) -> Option<String> {
    let usable = |l: &&Link| l.target.is_none();
    links
        .iter()
        .filter(usable)
        .filter(|l| {
            l.rel
                .as_deref()
                .is_none_or(|r| r.eq_ignore_ascii_case("alternate"))
        })
        .find_map(|l| absolute_http(&l.href, base))
        .or_else(|| {
            links
                .iter()
                .filter(usable)
                .filter(|l| {
                    !l.rel.as_deref().is_some_and(|r| {
                        matches!(
                            r.to_ascii_lowercase().as_str(),
                            "enclosure" | "replies" | "edit" | "self" | "license"
                        )
                    })
                })
                .find_map(|l| absolute_http(&l.href, base))
        })
}

fn looks_like_image_url(u: &str) -> bool {
    let path = u.split(['?', '#']).next().unwrap_or(u).to_ascii_lowercase();
    [".jpg", ".jpeg", ".png", ".gif", ".webp", ".avif", ".svg"]
        .iter()
        .any(|e| path.ends_with(e))
}

fn pick_image(entry: &Entry, base: Option<&Url>) -> Option<String> {
    for m in &entry.media {
        for t in &m.thumbnails {
            if let Some(u) = absolute_http(&t.image.uri, base) {
                return Some(u);
            }
        }
    }
    for m in &entry.media {
        for c in &m.content {
            let Some(url) = c.url.as_ref() else { continue };
            let is_image = match &c.content_type {
                Some(ct) => ct.ty().as_str().eq_ignore_ascii_case("image"),
                None => looks_like_image_url(url.as_str()),
            };
            if is_image && let Some(u) = absolute_http(url.as_str(), base) {
                return Some(u);
            }
        }
    }
    entry
        .links
        .iter()
        .filter(|l| {
            l.rel
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case("enclosure"))
                && l.media_type
                    .as_deref()
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("image/"))
        })
        .find_map(|l| absolute_http(&l.href, base))
}

/// Distinct non-empty strings in first-seen order. A set beside the list,
/// because an item may carry up to [`MAX_ELEMENTS`] categories and a search
/// of the list for each would be quadratic.
#[derive(Default)]
struct Distinct {
    list: Vec<String>,
    seen: HashSet<String>,
}

impl Distinct {
    fn push(&mut self, s: String) {
        if !s.is_empty() && !self.seen.contains(&s) {
            self.seen.insert(s.clone());
            self.list.push(s);
        }
    }
}

fn map_entry(entry: Entry, feed_url: Option<&Url>, scanned_image: Option<&str>) -> FeedItem {
    let base = entry_base(&entry, feed_url);
    let base = base.as_ref();
    let guid = non_empty(entry.id.trim().to_string());
    let link = pick_link(&entry.links, base).or_else(|| {
        let g = guid.as_deref()?;
        let lower = g.get(..8).unwrap_or(g).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            absolute_http(g, None)
        } else {
            None
        }
    });
    let title = entry
        .title
        .as_ref()
        .and_then(|t| non_empty(text::clean_inline(&t.content, is_html_type(t))));
    let summary = entry
        .summary
        .as_ref()
        .and_then(|t| non_empty(text::clean_block(&t.content, is_html_type(t))));
    let content_html = entry
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .and_then(|b| non_empty(b.trim().to_string()));
    let mut authors = Distinct::default();
    for p in entry.authors.iter() {
        let name = p
            .name
            .as_deref()
            .map(|n| text::clean_inline(n, false))
            .filter(|n| !n.is_empty());
        if let Some(n) = name.or_else(|| p.email.clone()) {
            authors.push(n);
        }
    }
    let mut categories = Distinct::default();
    for c in &entry.categories {
        let term = c
            .label
            .as_deref()
            .filter(|l| !l.trim().is_empty())
            .unwrap_or(&c.term);
        categories.push(text::clean_inline(term, false));
    }
    // feed-rs resolves links against nested xml:base but does not expose the
    // resolved base; the item's own link is the best base for relative images.
    let absolute_base = entry.base.as_deref().and_then(|b| Url::parse(b).ok());
    let img_base = absolute_base
        .or_else(|| link.as_deref().and_then(|l| Url::parse(l).ok()))
        .or_else(|| base.cloned());
    let img_base = img_base.as_ref();
    // A scanned media:thumbnail wins over feed-rs's media:content/enclosure images.
    let image = scanned_image
        .and_then(|u| absolute_http(u, img_base))
        .or_else(|| pick_image(&entry, img_base));
    FeedItem {
        guid,
        link,
        title,
        summary,
        content_html,
        authors: authors.list,
        published: entry.published,
        updated: entry.updated,
        image,
        categories: categories.list,
    }
}

fn map_feed(feed: Feed, format: FeedFormat, feed_url: Option<&Url>, extras: &Extras) -> ParsedFeed {
    let title = feed
        .title
        .as_ref()
        .and_then(|t| non_empty(text::clean_inline(&t.content, is_html_type(t))));
    let language = feed
        .language
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string);
    let links = feed
        .links
        .iter()
        .filter_map(|l| {
            let rel = l.rel.as_deref()?.trim().to_ascii_lowercase();
            let href = match feed_url {
                Some(base) => base.join(l.href.trim()).ok()?.to_string(),
                None => url::Url::parse(l.href.trim()).ok()?.to_string(),
            };
            Some((rel, href))
        })
        .collect();
    let items = feed
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| map_entry(e, feed_url, extras.images.get(i).and_then(|o| o.as_deref())))
        .collect();
    ParsedFeed {
        format,
        title,
        language,
        ttl_minutes: feed.ttl,
        skip: Default::default(),
        links,
        items,
    }
}

#[cfg(test)]
mod tests;
