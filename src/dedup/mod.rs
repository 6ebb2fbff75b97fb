//! Story identity: what makes two feed items "the same story".
//!
//! The same BBC story sits in several feeds with different guids (`URL#0`,
//! `URL#3`) and tracking parameters in its link, so neither the raw guid nor
//! the raw link can be the key. The key is, in order of preference: the
//! normalized link, the guid (normalized as a URL when it is one), then a hash
//! of the item's content. The story id is a hash of that key, so it is stable
//! across feeds and restarts.

mod identity;
pub mod near;

pub use identity::{DocumentIdentity, Sighting, StoryIdentity, identify};
pub use near::TextPrint;

use sha2::{Digest, Sha256};
use url::Url;

use crate::feed::FeedItem;

/// The tracking-parameter list, kept as data beside the code.
const TRACKING_PARAMS_JSON: &str = include_str!("tracking_params.json");

#[derive(serde::Deserialize)]
struct TrackingParams {
    prefixes: Vec<String>,
    names: Vec<String>,
}

fn tracking_params() -> &'static TrackingParams {
    static PARAMS: std::sync::OnceLock<TrackingParams> = std::sync::OnceLock::new();
    PARAMS.get_or_init(|| {
        serde_json::from_str(TRACKING_PARAMS_JSON).expect("tracking_params.json parses")
    })
}

fn is_tracking_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let params = tracking_params();
    params
        .prefixes
        .iter()
        .any(|p| lower.starts_with(p.as_str()))
        || params.names.contains(&lower)
}

/// Normalizes an http(s) URL for identity: lower-case scheme and host, no
/// default port, no fragment, no tracking parameters, remaining parameters
/// sorted. Returns `None` for anything that is not an absolute http(s) URL.
pub fn normalize_url(raw: &str) -> Option<String> {
    normalize_with_fragment(raw).map(|(url, _)| url)
}

/// [`normalize_url`], and the fragment it dropped (non-empty), if any.
pub(super) fn normalize_with_fragment(raw: &str) -> Option<(String, Option<String>)> {
    let mut url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
    let fragment = url.fragment().filter(|f| !f.is_empty()).map(String::from);
    url.set_fragment(None);
    // The url crate lower-cases the host and drops default ports already.
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !is_tracking_param(k))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if params.is_empty() {
        url.set_query(None);
    } else {
        params.sort();
        url.query_pairs_mut().clear().extend_pairs(params);
    }
    if url.path().is_empty() {
        url.set_path("/");
    }
    Some((url.into(), fragment))
}

pub fn story_id_for_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex(&digest[..16])
}

pub(super) fn content_fingerprint(item: &FeedItem) -> String {
    let mut hasher = Sha256::new();
    for part in [&item.title, &item.summary, &item.content_html] {
        hasher.update(part.as_deref().unwrap_or("").trim().as_bytes());
        hasher.update([0u8]);
    }
    hex(&hasher.finalize()[..16])
}

/// Fingerprint of what a feed says about an item; when it changes between two
/// polls of the same feed, the story may have changed and is looked at again.
pub fn item_fingerprint(item: &FeedItem) -> String {
    let mut hasher = Sha256::new();
    for part in [&item.title, &item.summary, &item.content_html] {
        hasher.update(part.as_deref().unwrap_or("").trim().as_bytes());
        hasher.update([0u8]);
    }
    hasher.update(
        item.updated
            .map(|d| d.timestamp())
            .unwrap_or(0)
            .to_le_bytes(),
    );
    hex(&hasher.finalize()[..16])
}

/// Items whose text is shorter than this (a few words of summary, or
/// none) say too little for the text to decide whether two of them are one
/// story: "Investigating." may head every incident of a status page.
const MIN_BODY_CHARS: usize = 60;

/// Hash of an item's text as its feed gives it (summary and content, not
/// the title, which publishers edit): two items of one feed with the same
/// text are one story whatever their guids say. `None` when the text is too
/// short to decide anything.
pub fn item_body_print(item: &FeedItem) -> Option<String> {
    let summary = item.summary.as_deref().unwrap_or("").trim();
    let content = item.content_html.as_deref().unwrap_or("").trim();
    if summary.chars().count() + content.chars().count() < MIN_BODY_CHARS {
        return None;
    }
    let mut hasher = Sha256::new();
    hasher.update(summary.as_bytes());
    hasher.update([0u8]);
    hasher.update(content.as_bytes());
    Some(hex(&hasher.finalize()[..16]))
}

/// Hash of what a consumer reads (title and text): a story is republished as
/// `updated` only when this changes.
pub fn content_hash(title: Option<&str>, text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(title.unwrap_or("").trim().as_bytes());
    hasher.update([0u8]);
    hasher.update(text.trim().as_bytes());
    format!("sha256:{}", hex(&hasher.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_parameters_and_fragments_are_dropped() {
        assert_eq!(
            normalize_url("https://WWW.BBC.co.uk/news/articles/c1?at_medium=RSS&at_campaign=rss#0")
                .unwrap(),
            "https://www.bbc.co.uk/news/articles/c1"
        );
        assert_eq!(
            normalize_url("http://example.com:80/a?utm_source=x&id=7&b=2&cmp=feed").unwrap(),
            "http://example.com/a?b=2&id=7"
        );
        assert_eq!(normalize_url("ftp://example.com/a"), None);
        assert_eq!(normalize_url("cocoa-dom:1234"), None);
    }

    #[test]
    fn content_hash_tracks_title_and_text() {
        let a = content_hash(Some("T"), "body");
        assert_eq!(a, content_hash(Some("T"), "body\n"));
        assert_ne!(a, content_hash(Some("T2"), "body"));
        assert_ne!(a, content_hash(Some("T"), "body changed"));
    }
}
