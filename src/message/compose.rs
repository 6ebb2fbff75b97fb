//! Building the v1 message of a story from its feed item and its page.

use chrono::Utc;
use url::Url;

use super::{
    ArticleEvent, ArticleMessage, Extraction, ExtractionStatus, FeedRef, LanguageSource, SCHEMA_V1,
    language, word_count,
};
use crate::dedup::{content_hash, normalize_url};
use crate::extract::{Access, Extracted, ExtractionMethod, Interstitial};
use crate::feed::{self, FeedItem};
use crate::fetch::BlockKind;

/// What fetching and extracting the story's page came to.
pub enum PageOutcome {
    Extracted {
        extracted: Box<Extracted>,
        final_url: Url,
    },
    Failed,
    /// The site answered with a challenge (named by its headers).
    Blocked(BlockKind),
}

impl PageOutcome {
    /// What blocked the page: the response's headers, or the page itself
    /// when the extractor found a challenge or a consent wall on it.
    pub fn blocked_by(&self) -> Option<BlockKind> {
        match self {
            PageOutcome::Blocked(kind) => Some(*kind),
            PageOutcome::Extracted { extracted, .. } => {
                extracted.interstitial.map(|found| match found {
                    Interstitial::Challenge => BlockKind::ChallengePage,
                    Interstitial::ConsentWall => BlockKind::ConsentWall,
                })
            }
            PageOutcome::Failed => None,
        }
    }
}

/// The story a message is built for.
pub struct Draft<'a> {
    pub story_id: &'a str,
    pub item: &'a FeedItem,
    /// The item's normalized link, its identity URL.
    pub url: Option<&'a str>,
    /// The last confirmed revision (0 when never published).
    pub published_revision: u32,
}

/// Builds the article message from the feed item and what the page gave.
pub fn compose(draft: &Draft<'_>, page: Option<PageOutcome>, feed: FeedRef) -> ArticleMessage {
    let item: &FeedItem = draft.item;
    let summary = item.summary.clone().filter(|s| !s.trim().is_empty());
    // The feed's own text, rendered only when the page gave none.
    let fallback = || {
        let feed_text = item
            .content_html
            .as_deref()
            .map(feed::html_to_text)
            .filter(|t| !t.trim().is_empty());
        match (feed_text, &summary) {
            (Some(text), _) => (text, Some(ExtractionMethod::FeedContent)),
            (None, Some(summary)) => (summary.clone(), Some(ExtractionMethod::FeedSummary)),
            (None, None) => (String::new(), None),
        }
    };
    let identity_url = draft.url.map(String::from);
    let blocked_by = page.as_ref().and_then(PageOutcome::blocked_by);
    let (extracted, final_url, status) = match page {
        // Nothing of an interstitial is kept: not its text, not its
        // language, not its title.
        Some(_) if blocked_by.is_some() => (None, None, ExtractionStatus::Blocked),
        Some(PageOutcome::Extracted {
            extracted,
            final_url,
        }) => {
            let status = if extracted.text.trim().is_empty() {
                ExtractionStatus::Empty
            } else {
                ExtractionStatus::Ok
            };
            (Some(*extracted), Some(final_url), status)
        }
        Some(PageOutcome::Failed | PageOutcome::Blocked(_)) => {
            (None, None, ExtractionStatus::Failed)
        }
        None => (None, None, ExtractionStatus::Skipped),
    };
    let (text, method) = match &extracted {
        Some(e) if status == ExtractionStatus::Ok => (e.text.clone(), e.method),
        _ => fallback(),
    };
    let url = story_url(extracted.as_ref(), final_url.as_ref(), identity_url, item);
    let title = item
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| extracted.as_ref().and_then(|e| e.title.clone()));
    let hash = content_hash(title.as_deref(), &text);
    let (language, language_source) = match extracted.as_ref().and_then(|e| e.language.clone()) {
        Some(declared) => (Some(declared), Some(LanguageSource::Declared)),
        None => match language::detect(title.as_deref(), &text) {
            Some(code) => (Some(code.to_string()), Some(LanguageSource::Detected)),
            None => (None, None),
        },
    };
    let revision = draft.published_revision + 1;
    let e = extracted.as_ref();
    ArticleMessage {
        schema: SCHEMA_V1.into(),
        id: draft.story_id.to_string(),
        event: if revision == 1 {
            ArticleEvent::Created
        } else {
            ArticleEvent::Updated
        },
        revision,
        url,
        title,
        word_count: word_count(&text),
        text,
        summary,
        authors: e
            .map(|e| e.authors.clone())
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| item.authors.clone()),
        published_at: item.published.or(e.and_then(|e| e.published_at)),
        updated_at: e.and_then(|e| e.updated_at).or(item.updated),
        fetched_at: Utc::now(),
        language,
        language_source,
        image: e
            .and_then(|e| e.image.clone())
            .or_else(|| item.image.clone())
            .filter(|i| i.starts_with("http://") || i.starts_with("https://")),
        feed,
        guid: item.guid.clone(),
        content_hash: hash,
        access: e.map_or(Access::Unknown, |e| e.access),
        extraction: Extraction {
            status,
            method,
            blocked_by,
        },
        // Set by the pipeline when the store knows an earlier copy.
        duplicate_of: None,
        cluster: Some(draft.story_id.to_string()),
    }
}

/// The story's URL: the page's canonical when it is on the same host as the
/// page (a canonical pointing elsewhere is a syndication copy or a spoof),
/// else the page's final URL after redirects, else the item's link; always
/// without tracking parameters.
fn story_url(
    extracted: Option<&Extracted>,
    final_url: Option<&Url>,
    identity_url: Option<String>,
    item: &FeedItem,
) -> String {
    if let (Some(canonical), Some(final_url)) = (
        extracted.and_then(|e| e.canonical_url.as_deref()),
        final_url,
    ) && let Ok(canonical) = final_url.join(canonical)
        && canonical.host_str() == final_url.host_str()
        && let Some(url) = normalize_url(canonical.as_str())
    {
        return url;
    }
    final_url
        .and_then(|u| normalize_url(u.as_str()))
        .or(identity_url)
        .or_else(|| item.link.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(item: &FeedItem, published_revision: u32) -> Draft<'_> {
        Draft {
            story_id: "0123456789abcdef0123456789abcdef",
            item,
            url: None,
            published_revision,
        }
    }

    fn feed_ref() -> FeedRef {
        FeedRef {
            id: "f".into(),
            url: "https://x.example/feed".into(),
            title: None,
        }
    }

    #[test]
    fn failed_page_falls_back_to_summary() {
        let item = FeedItem {
            link: Some("https://x.example/a?utm_source=rss".into()),
            title: Some("Title".into()),
            summary: Some("The summary.".into()),
            ..FeedItem::default()
        };
        let url = normalize_url(item.link.as_deref().unwrap());
        let draft = Draft {
            url: url.as_deref(),
            ..draft(&item, 0)
        };
        let m = compose(&draft, Some(PageOutcome::Failed), feed_ref());
        assert_eq!(m.extraction.status, ExtractionStatus::Failed);
        assert_eq!(m.extraction.method, Some(ExtractionMethod::FeedSummary));
        assert_eq!(m.text, "The summary.");
        assert_eq!(m.url, "https://x.example/a");
        assert_eq!(m.event, ArticleEvent::Created);
        assert_eq!(m.revision, 1);
    }

    fn page(extracted: Extracted) -> Option<PageOutcome> {
        Some(PageOutcome::Extracted {
            extracted: Box::new(extracted),
            final_url: Url::parse("https://x.example/a").unwrap(),
        })
    }

    fn item() -> FeedItem {
        FeedItem {
            link: Some("https://x.example/a".into()),
            title: Some("Harbour town votes to rebuild its flooded sea wall".into()),
            summary: Some(
                "Residents of a small harbour town have voted to rebuild the sea wall that \
                 failed during last winter's storms."
                    .into(),
            ),
            ..FeedItem::default()
        }
    }

    #[test]
    fn language_declared_else_detected_else_none() {
        let item = item();
        let body = "Les habitants de la petite ville portuaire ont voté mardi pour \
                    reconstruire la digue emportée par les tempêtes de l'hiver dernier.";
        let declared = Extracted {
            text: body.into(),
            language: Some("fr-FR".into()),
            ..Extracted::default()
        };
        let m = compose(&draft(&item, 0), page(declared), feed_ref());
        assert_eq!(m.language.as_deref(), Some("fr-FR"));
        assert_eq!(m.language_source, Some(LanguageSource::Declared));
        // Undeclared: detected from what is published, title included.
        let undeclared = Extracted {
            text: body.into(),
            ..Extracted::default()
        };
        let fr_item = FeedItem {
            title: Some("La ville vote la reconstruction de la digue".into()),
            ..item.clone()
        };
        let m = compose(&draft(&fr_item, 0), page(undeclared), feed_ref());
        assert_eq!(m.language.as_deref(), Some("fr"));
        assert_eq!(m.language_source, Some(LanguageSource::Detected));
        // The page failed: the feed's English summary decides.
        let m = compose(&draft(&item, 0), Some(PageOutcome::Failed), feed_ref());
        assert_eq!(m.language.as_deref(), Some("en"));
        assert_eq!(m.language_source, Some(LanguageSource::Detected));
        // Too little to tell.
        let bare = FeedItem {
            link: item.link.clone(),
            summary: Some("OK".into()),
            ..FeedItem::default()
        };
        let m = compose(&draft(&bare, 0), None, feed_ref());
        assert_eq!((m.language, m.language_source), (None, None));
    }

    #[test]
    fn access_comes_from_the_page() {
        let item = item();
        let teaser = Extracted {
            text: "The first paragraph, all the page shows.".into(),
            access: Access::Paywalled,
            ..Extracted::default()
        };
        let m = compose(&draft(&item, 0), page(teaser), feed_ref());
        assert_eq!(m.access, Access::Paywalled);
        assert_eq!(m.extraction.status, ExtractionStatus::Ok);
        assert_eq!(m.text, "The first paragraph, all the page shows.");
        let m = compose(&draft(&item, 0), Some(PageOutcome::Failed), feed_ref());
        assert_eq!(m.access, Access::Unknown);
    }

    #[test]
    fn an_interstitial_is_never_the_story() {
        let item = item();
        let wall = Extracted {
            title: Some("Before you continue".into()),
            text: "We use cookies and data to deliver our services.".into(),
            language: Some("de".into()),
            access: Access::Free,
            interstitial: Some(Interstitial::ConsentWall),
            ..Extracted::default()
        };
        for (outcome, kind) in [
            (page(wall), BlockKind::ConsentWall),
            (
                Some(PageOutcome::Blocked(BlockKind::Datadome)),
                BlockKind::Datadome,
            ),
        ] {
            let m = compose(&draft(&item, 0), outcome, feed_ref());
            assert_eq!(m.extraction.status, ExtractionStatus::Blocked);
            assert_eq!(m.extraction.blocked_by, Some(kind));
            assert_eq!(m.extraction.method, Some(ExtractionMethod::FeedSummary));
            assert_eq!(m.text, item.summary.clone().unwrap());
            assert_eq!(m.title, item.title);
            assert_eq!(m.access, Access::Unknown);
            assert_eq!(m.language.as_deref(), Some("en"), "not the wall's");
            assert_eq!(m.url, "https://x.example/a");
        }
        let m = compose(&draft(&item, 0), Some(PageOutcome::Failed), feed_ref());
        assert_eq!(m.extraction.blocked_by, None);
    }

    #[test]
    fn cross_host_canonical_is_ignored() {
        let final_url = Url::parse("https://mirror.example/a").unwrap();
        let extracted = Extracted {
            canonical_url: Some("https://origin.example/a".into()),
            ..Extracted::default()
        };
        let item = FeedItem::default();
        assert_eq!(
            story_url(Some(&extracted), Some(&final_url), None, &item),
            "https://mirror.example/a"
        );
        let same_host = Extracted {
            canonical_url: Some("/a-canonical?at_medium=RSS".into()),
            ..Extracted::default()
        };
        assert_eq!(
            story_url(Some(&same_host), Some(&final_url), None, &item),
            "https://mirror.example/a-canonical"
        );
    }

    #[test]
    fn updates_get_the_next_revision() {
        let item = FeedItem {
            link: Some("https://x.example/a".into()),
            summary: Some("s".into()),
            ..FeedItem::default()
        };
        let m = compose(&draft(&item, 2), None, feed_ref());
        assert_eq!(m.revision, 3);
        assert_eq!(m.event, ArticleEvent::Updated);
        assert_eq!(m.extraction.status, ExtractionStatus::Skipped);
    }
}
