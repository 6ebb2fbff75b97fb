//! Story identity: what makes two feed items "the same story".
//!
//! The same BBC story sits in several feeds with different guids (`URL#0`,
//! `URL#3`) and tracking parameters in its link, so neither the raw guid nor
//! the raw link can be the key. The key is, in order of preference: the
//! normalized link, the guid (normalized as a URL when it is one), then a hash
//! of the item's content. The story id is a hash of that key, so it is stable
//! across feeds and restarts.

use sha2::{Digest, Sha256};
use url::Url;

use crate::feed::FeedItem;

/// Query parameters that only track where a click came from (besides every
/// `utm_*` and `at_*`, the analytics prefixes of Google and BBC/Piano).
const TRACKING_PARAMS: &[&str] = &[
    "cmp",
    "cmpid",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "ocid",
    "ns_mchannel",
    "ns_source",
    "ns_campaign",
    "ns_linkname",
    "ns_fee",
    "xtor",
    "_ga",
    "igshid",
    "smid",
    "smtyp",
    "guccounter",
];

fn is_tracking_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_")
        || lower.starts_with("at_")
        || TRACKING_PARAMS.contains(&lower.as_str())
}

/// Normalizes an http(s) URL for identity: lower-case scheme and host, no
/// default port, no fragment, no tracking parameters, remaining parameters
/// sorted. Returns `None` for anything that is not an absolute http(s) URL.
pub fn normalize_url(raw: &str) -> Option<String> {
    let mut url = Url::parse(raw.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return None;
    }
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
    Some(url.into())
}

/// The identity of a story, before it is looked up in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryIdentity {
    /// Primary key: `url:…`, `guid:…` or `hash:…`.
    pub key: String,
    /// Further keys that name the same story (the guid when the link won,
    /// say), so a later item that has only one of them still matches.
    pub aliases: Vec<String>,
    /// The normalized link, when the item had one.
    pub url: Option<String>,
}

impl StoryIdentity {
    pub fn of(item: &FeedItem) -> StoryIdentity {
        let link_url = item.link.as_deref().and_then(normalize_url);
        let guid = item
            .guid
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty());
        let guid_key = guid.map(|g| match normalize_url(g) {
            Some(url) => format!("url:{url}"),
            None => format!("guid:{g}"),
        });
        let mut keys: Vec<String> = Vec::with_capacity(2);
        if let Some(url) = &link_url {
            keys.push(format!("url:{url}"));
        }
        if let Some(k) = guid_key
            && !keys.contains(&k)
        {
            keys.push(k);
        }
        if keys.is_empty() {
            keys.push(format!("hash:{}", content_fingerprint(item)));
        }
        let key = keys.remove(0);
        StoryIdentity {
            key,
            aliases: keys,
            url: link_url,
        }
    }

    pub fn all_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Stable story id: the hex of the first 16 bytes of SHA-256 of the key.
    pub fn story_id(&self) -> String {
        story_id_for_key(&self.key)
    }
}

pub fn story_id_for_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    hex(&digest[..16])
}

fn content_fingerprint(item: &FeedItem) -> String {
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

    fn item(link: Option<&str>, guid: Option<&str>) -> FeedItem {
        FeedItem {
            link: link.map(String::from),
            guid: guid.map(String::from),
            title: Some("A story".into()),
            ..FeedItem::default()
        }
    }

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
    fn bbc_guid_variants_and_tracking_links_are_one_story() {
        let a = item(
            Some("https://www.bbc.com/news/articles/c9x?at_medium=RSS&at_campaign=rss"),
            Some("https://www.bbc.com/news/articles/c9x#0"),
        );
        let b = item(
            Some("https://www.bbc.com/news/articles/c9x?at_campaign=KARANGA&at_medium=RSS"),
            Some("https://www.bbc.com/news/articles/c9x#3"),
        );
        let (ia, ib) = (StoryIdentity::of(&a), StoryIdentity::of(&b));
        assert_eq!(ia.key, "url:https://www.bbc.com/news/articles/c9x");
        assert_eq!(ia.story_id(), ib.story_id());
        assert!(ia.aliases.is_empty(), "the guid normalizes to the same URL");
    }

    #[test]
    fn guid_then_content_hash_when_no_link() {
        let by_guid = StoryIdentity::of(&item(None, Some("urn:uuid:1234")));
        assert_eq!(by_guid.key, "guid:urn:uuid:1234");
        let bare = StoryIdentity::of(&item(None, None));
        assert!(bare.key.starts_with("hash:"));
        assert_eq!(bare, StoryIdentity::of(&item(None, None)));
    }

    #[test]
    fn non_url_guid_is_kept_as_alias() {
        let id = StoryIdentity::of(&item(Some("https://a.example/x"), Some("tag:a,2024:1")));
        assert_eq!(id.key, "url:https://a.example/x");
        assert_eq!(id.aliases, vec!["guid:tag:a,2024:1".to_string()]);
        assert_eq!(id.story_id().len(), 32);
    }

    #[test]
    fn content_hash_tracks_title_and_text() {
        let a = content_hash(Some("T"), "body");
        assert_eq!(a, content_hash(Some("T"), "body\n"));
        assert_ne!(a, content_hash(Some("T2"), "body"));
        assert_ne!(a, content_hash(Some("T"), "body changed"));
    }
}
