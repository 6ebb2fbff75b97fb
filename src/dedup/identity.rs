//! A story's identity within its feed document: which keys name it, which
//! keys name several stories and must not be matched on.

use std::collections::{HashMap, HashSet};

use super::{content_fingerprint, normalize_url, normalize_with_fragment, story_id_for_key};
use crate::feed::FeedItem;

/// The identity of a story, before it is looked up in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryIdentity {
    /// Primary key: `url:…`, `guid@<feed>:…` or `hash:…`.
    pub key: String,
    /// Further keys that name the same story (the guid when the link won,
    /// say), so a later item that has only one of them still matches.
    pub aliases: Vec<String>,
    /// The normalized link, when the item had one.
    pub url: Option<String>,
    /// What tells the item's guid from another's (a URL guid without its
    /// fragment, else the guid as written), when it has one. Two items of
    /// one feed with different guids and different text are two stories,
    /// even when their links match.
    pub guid: Option<String>,
    /// The link's fragment: a live blog's posts differ only there.
    pub fragment: Option<String>,
}

/// What one feed showed of a story the last time it changed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting<'a> {
    pub fingerprint: &'a str,
    pub guid: Option<&'a str>,
    pub fragment: Option<&'a str>,
    /// [`super::item_body_print`] of the item, when its text was long enough.
    pub body: Option<&'a str>,
}

impl StoryIdentity {
    /// Whether an item of this identity, found by its key `key` to be a
    /// story the same feed showed as `seen`, is in truth another story that
    /// shares the key. Where guids and links disagree, the text decides:
    /// - a guid that changed while the text stayed is the same story (feeds
    ///   re-issue guids, DW edits titles: miniflux#3120, #3390);
    /// - a guid repeated with a new link and other text is another story
    ///   (a feed that repeats one guid for every item: NewsBlur#1470);
    /// - otherwise another guid or link fragment with other text is another
    ///   story (a status page's incidents, a live blog's posts).
    pub fn other_than(
        &self,
        key: &str,
        fingerprint: &str,
        body: Option<&str>,
        seen: &Sighting<'_>,
    ) -> bool {
        if seen.fingerprint == fingerprint {
            return false;
        }
        let same_text = body.is_some() && body == seen.body;
        let other_text = matches!((body, seen.body), (Some(a), Some(b)) if a != b);
        if self.fragment.as_deref() != seen.fragment {
            return true;
        }
        if matches!((self.guid.as_deref(), seen.guid), (Some(a), Some(b)) if a != b) {
            return !same_text;
        }
        // Found by its guid, not by its link: the link is new to the story.
        let by_link = self.url.as_ref().is_some_and(|url| {
            key.strip_prefix("url:")
                .and_then(|rest| rest.strip_prefix(url.as_str()))
                .is_some_and(|tail| tail.is_empty() || tail.starts_with('#'))
        });
        self.url.is_some() && !by_link && other_text
    }
}

/// The stories of one feed document, with the keys that cannot identify any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocumentIdentity {
    /// One entry per distinct story, in document order: the index of its
    /// first item in the document, and its identity. Later items of the
    /// same story are left out, so one poll never records a story twice.
    pub stories: Vec<(usize, StoryIdentity)>,
    /// For each item of the document, its story's place in `stories`.
    pub story_of_item: Vec<usize>,
    /// Keys that several different items of the document share (one link
    /// for every post of a status page, one guid for every item of a broken
    /// feed): they name no single story, and the store stops matching on them.
    pub ambiguous: Vec<String>,
}

/// What one item offers as identity, before the document is looked at.
struct ItemKeys {
    link: Option<(String, Option<String>)>,
    guid_key: Option<String>,
    /// What tells this item's guid apart from another's: a URL guid without
    /// its fragment (BBC's `URL#1` and `URL#8` name one story), else the
    /// guid as written.
    guid_identity: Option<String>,
}

impl ItemKeys {
    fn of(feed_id: &str, item: &FeedItem) -> ItemKeys {
        let guid = item
            .guid
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty());
        let (guid_key, guid_identity) = match guid {
            Some(g) => match normalize_url(g) {
                Some(url) => (Some(format!("url:{url}")), Some(url)),
                // Guids like `1` or `post-7` are unique only within their
                // feed: scoped, so two sites' `1`s stay two stories.
                None => (Some(format!("guid@{feed_id}:{g}")), Some(g.to_string())),
            },
            None => (None, None),
        };
        ItemKeys {
            link: item.link.as_deref().and_then(normalize_with_fragment),
            guid_key,
            guid_identity,
        }
    }

    fn link_key(&self) -> Option<String> {
        self.link.as_ref().map(|(url, _)| format!("url:{url}"))
    }

    fn fine_link_key(&self) -> Option<String> {
        match &self.link {
            Some((url, Some(fragment))) => Some(format!("url:{url}#{fragment}")),
            _ => None,
        }
    }
}

/// Works out the identity of every item of one feed document.
///
/// Items are the same story when they share a key (normalized link, guid)
/// and nothing tells them apart. A key shared by items that *are* told apart
/// — different link fragments (`live#post-1`, `live#post-2`), different
/// guids, different links — is ambiguous and is not used; such items are
/// keyed by their link with its fragment, their link, or their guid.
pub fn identify(feed_id: &str, items: &[FeedItem]) -> DocumentIdentity {
    let offered: Vec<ItemKeys> = items.iter().map(|i| ItemKeys::of(feed_id, i)).collect();
    // Which items offer each key: the link, the link with its fragment, the guid.
    let mut holders: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, keys) in offered.iter().enumerate() {
        let candidates = [keys.link_key(), keys.fine_link_key(), keys.guid_key.clone()];
        for key in candidates.into_iter().flatten() {
            let list = holders.entry(key).or_default();
            if list.last() != Some(&index) {
                list.push(index);
            }
        }
    }
    let mut ambiguous: HashSet<String> = HashSet::new();
    for (key, list) in &holders {
        if list.len() < 2 {
            continue;
        }
        let fragments: HashSet<Option<&str>> = list
            .iter()
            .map(|&i| offered[i].link.as_ref().and_then(|(_, f)| f.as_deref()))
            .collect();
        let guids: HashSet<&str> = list
            .iter()
            .filter_map(|&i| offered[i].guid_identity.as_deref())
            .collect();
        let links: HashSet<&str> = list
            .iter()
            .filter_map(|&i| offered[i].link.as_ref().map(|(url, _)| url.as_str()))
            .collect();
        if fragments.len() > 1 || guids.len() > 1 || links.len() > 1 {
            ambiguous.insert(key.clone());
        }
    }
    let mut identities: Vec<StoryIdentity> = Vec::with_capacity(items.len());
    for (item, keys) in items.iter().zip(&offered) {
        // The link, then the link with its fragment (what tells a live
        // blog's posts apart, kept as an alias so a post seen alone first
        // is found again once its siblings appear), then the guid.
        let mut usable: Vec<String> = Vec::with_capacity(3);
        for key in [keys.link_key(), keys.fine_link_key(), keys.guid_key.clone()]
            .into_iter()
            .flatten()
        {
            if !ambiguous.contains(&key) && !usable.contains(&key) {
                usable.push(key);
            }
        }
        if usable.is_empty() {
            usable.push(format!("hash:{}", content_fingerprint(item)));
        }
        let key = usable.remove(0);
        identities.push(StoryIdentity {
            key,
            aliases: usable,
            url: keys.link.as_ref().map(|(url, _)| url.clone()),
            guid: keys.guid_identity.clone(),
            fragment: keys.link.as_ref().and_then(|(_, f)| f.clone()),
        });
    }
    // Items joined by a usable key are one story: the first one stands for
    // it and takes every key the others bring.
    let mut story_of_key: HashMap<String, usize> = HashMap::new();
    let mut stories: Vec<(usize, StoryIdentity)> = Vec::new();
    let mut story_of_item = Vec::with_capacity(items.len());
    for (index, identity) in identities.into_iter().enumerate() {
        let joined = identity
            .all_keys()
            .find_map(|key| story_of_key.get(key).copied());
        let slot = match joined {
            Some(slot) => {
                let story = &mut stories[slot].1;
                for key in identity.all_keys() {
                    if !story.all_keys().any(|k| k == key) {
                        story.aliases.push(key.to_string());
                    }
                }
                slot
            }
            None => {
                stories.push((index, identity));
                stories.len() - 1
            }
        };
        for key in stories[slot].1.all_keys() {
            story_of_key.entry(key.to_string()).or_insert(slot);
        }
        story_of_item.push(slot);
    }
    let mut ambiguous: Vec<String> = ambiguous.into_iter().collect();
    ambiguous.sort();
    DocumentIdentity {
        stories,
        story_of_item,
        ambiguous,
    }
}

impl StoryIdentity {
    /// The identity of a lone item of `feed_id` (a document of one).
    pub fn of(feed_id: &str, item: &FeedItem) -> StoryIdentity {
        identify(feed_id, std::slice::from_ref(item))
            .stories
            .remove(0)
            .1
    }

    pub fn all_keys(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.key.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    /// Stable story id: the hex of the first 16 bytes of SHA-256 of the key.
    pub fn story_id(&self) -> String {
        story_id_for_key(&self.key)
    }
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
    fn bbc_guid_variants_and_tracking_links_are_one_story() {
        let a = item(
            Some("https://www.bbc.com/news/articles/c9x?at_medium=RSS&at_campaign=rss"),
            Some("https://www.bbc.com/news/articles/c9x#0"),
        );
        let b = item(
            Some("https://www.bbc.com/news/articles/c9x?at_campaign=KARANGA&at_medium=RSS"),
            Some("https://www.bbc.com/news/articles/c9x#3"),
        );
        let (ia, ib) = (StoryIdentity::of("world", &a), StoryIdentity::of("uk", &b));
        assert_eq!(ia.key, "url:https://www.bbc.com/news/articles/c9x");
        assert_eq!(ia.story_id(), ib.story_id());
        assert!(ia.aliases.is_empty(), "the guid normalizes to the same URL");
        // BBC lists one story twice in one document (`#1` and `#8`, titles
        // reworded): still one story, and no key is given up.
        let mut again = b.clone();
        again.title = Some("A story, reworded".into());
        let doc = identify(
            "front",
            &[
                a.clone(),
                item(Some("https://www.bbc.com/news/other"), None),
                again,
            ],
        );
        assert_eq!(doc.stories.len(), 2);
        assert_eq!(doc.stories[0].0, 0);
        assert_eq!(doc.stories[0].1.story_id(), ia.story_id());
        assert!(doc.ambiguous.is_empty());
    }

    #[test]
    fn guid_then_content_hash_when_no_link() {
        let by_guid = StoryIdentity::of("f", &item(None, Some("urn:uuid:1234")));
        assert_eq!(by_guid.key, "guid@f:urn:uuid:1234");
        let bare = StoryIdentity::of("f", &item(None, None));
        assert!(bare.key.starts_with("hash:"));
        assert_eq!(bare, StoryIdentity::of("f", &item(None, None)));
    }

    #[test]
    fn non_url_guids_are_scoped_by_feed() {
        let one = item(None, Some("1"));
        assert_ne!(
            StoryIdentity::of("site-a", &one).story_id(),
            StoryIdentity::of("site-b", &one).story_id()
        );
        let id = StoryIdentity::of(
            "a",
            &item(Some("https://a.example/x"), Some("tag:a,2024:1")),
        );
        assert_eq!(id.key, "url:https://a.example/x");
        assert_eq!(id.aliases, vec!["guid@a:tag:a,2024:1".to_string()]);
        assert_eq!(id.story_id().len(), 32);
    }

    #[test]
    fn items_sharing_a_link_but_not_a_guid_are_different_stories() {
        // A status page: every incident links to the same page.
        let items: Vec<FeedItem> = ["incident-1", "incident-2", "incident-3"]
            .iter()
            .map(|g| item(Some("https://status.example/"), Some(g)))
            .collect();
        let doc = identify("status", &items);
        assert_eq!(doc.stories.len(), 3);
        assert_eq!(
            doc.ambiguous,
            vec!["url:https://status.example/".to_string()]
        );
        let keys: Vec<&str> = doc.stories.iter().map(|(_, id)| id.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "guid@status:incident-1",
                "guid@status:incident-2",
                "guid@status:incident-3"
            ]
        );
        assert!(doc.stories.iter().all(|(_, id)| id.aliases.is_empty()));
    }

    #[test]
    fn a_fragment_that_tells_items_apart_is_kept() {
        let items = [
            item(
                Some("https://news.example/live?utm_source=rss#post-1"),
                None,
            ),
            item(Some("https://news.example/live#post-2"), None),
        ];
        let doc = identify("live", &items);
        let keys: Vec<&str> = doc.stories.iter().map(|(_, id)| id.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "url:https://news.example/live#post-1",
                "url:https://news.example/live#post-2"
            ]
        );
        assert_eq!(
            doc.ambiguous,
            vec!["url:https://news.example/live".to_string()]
        );
        // Alone, a fragment does not split a story from its page.
        let alone = StoryIdentity::of("live", &items[0]);
        assert_eq!(alone.key, "url:https://news.example/live");
    }

    #[test]
    fn a_guid_shared_by_different_links_is_ignored() {
        let items = [
            item(
                Some("https://blog.example/a"),
                Some("https://blog.example/"),
            ),
            item(
                Some("https://blog.example/b"),
                Some("https://blog.example/"),
            ),
        ];
        let doc = identify("blog", &items);
        assert_eq!(doc.stories.len(), 2);
        assert_eq!(doc.ambiguous, vec!["url:https://blog.example/".to_string()]);
        assert!(doc.stories.iter().all(|(_, id)| id.aliases.is_empty()));
    }

    #[test]
    fn an_item_repeated_in_a_document_is_one_story() {
        let a = item(Some("https://x.example/s"), Some("g1"));
        let doc = identify("f", &[a.clone(), a]);
        assert_eq!(doc.stories.len(), 1);
        assert!(doc.ambiguous.is_empty());
    }
}
