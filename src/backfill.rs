//! Backfill: stories from before the worker was running, taken from the
//! source and sent through the normal pipeline (the same dedup, the same
//! messages), politely, beside a running worker.
//!
//! Sources: a feed's RFC 5005 pages and archives (`rel="next"`,
//! `rel="prev-archive"`), a news sitemap or sitemap index (gzip too), or a
//! captured feed file.

use std::collections::HashSet;
use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use url::Url;

use crate::feed::{self, FeedError, FeedItem};
use crate::fetch::{FeedResponse, FetchError, Fetcher, Validators};

/// Pages or sitemaps followed at most in one backfill.
const MAX_DOCUMENTS: usize = 10_000;
/// A decompressed sitemap larger than this is refused (gzip bombs).
const MAX_SITEMAP_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("fetching {url}: {source}")]
    Fetch { url: String, source: FetchError },
    #[error("parsing {url}: {source}")]
    Feed { url: String, source: FeedError },
    #[error("reading {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sitemap {url}: {reason}")]
    Sitemap { url: String, reason: String },
}

/// Where the stories come from.
#[derive(Debug, Clone)]
pub enum BackfillSource {
    /// A feed, followed through its `next` pages and `prev-archive` documents.
    Feed(Url),
    /// A sitemap or sitemap index.
    Sitemap(Url),
    /// A feed document on disk.
    File(PathBuf),
}

/// Collects the items of a source, newest documents first, keeping those
/// published at or after `since` (items without a date are kept).
pub async fn collect(
    fetcher: &Fetcher,
    source: &BackfillSource,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<FeedItem>, BackfillError> {
    let keep = |item: &FeedItem| {
        since.is_none_or(|since| item.published.or(item.updated).is_none_or(|t| t >= since))
    };
    let items = match source {
        BackfillSource::File(path) => {
            let body = std::fs::read(path).map_err(|source| BackfillError::File {
                path: path.clone(),
                source,
            })?;
            let parsed =
                feed::parse_feed(&body, None, None).map_err(|source| BackfillError::Feed {
                    url: path.display().to_string(),
                    source,
                })?;
            parsed.items
        }
        BackfillSource::Feed(url) => paged_feed(fetcher, url, &keep).await?,
        BackfillSource::Sitemap(url) => sitemap(fetcher, url).await?,
    };
    Ok(items.into_iter().filter(|item| keep(item)).collect())
}

/// Follows `next` (paged feeds) and `prev-archive` (archived feeds). Paging
/// stops at a document with no item recent enough.
async fn paged_feed(
    fetcher: &Fetcher,
    start: &Url,
    keep: &impl Fn(&FeedItem) -> bool,
) -> Result<Vec<FeedItem>, BackfillError> {
    let mut items = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut next = Some(start.clone());
    while let Some(url) = next.take() {
        if !seen.insert(url.to_string()) || seen.len() > MAX_DOCUMENTS {
            break;
        }
        let fetch_err = |source| BackfillError::Fetch {
            url: url.to_string(),
            source,
        };
        let response = fetcher
            .fetch_feed(&url, &Validators::default())
            .await
            .map_err(fetch_err)?;
        let FeedResponse::Fetched {
            body,
            content_type,
            final_url,
            ..
        } = response
        else {
            break;
        };
        let parsed = feed::parse_feed(&body, content_type.as_deref(), Some(&final_url)).map_err(
            |source| BackfillError::Feed {
                url: url.to_string(),
                source,
            },
        )?;
        let recent = parsed.items.iter().any(keep);
        let link = |rel: &str| {
            parsed
                .links
                .iter()
                .find(|(r, _)| r == rel)
                .and_then(|(_, href)| Url::parse(href).ok())
        };
        if recent || parsed.items.is_empty() {
            next = link("next").or_else(|| link("prev-archive"));
        }
        tracing::info!(url = %url, items = parsed.items.len(), "backfill: feed document read");
        items.extend(parsed.items);
    }
    Ok(items)
}

/// Walks a sitemap index and its sitemaps; each `<url>` becomes an item with
/// its `<loc>`, news title and publication date (or `<lastmod>`).
async fn sitemap(fetcher: &Fetcher, start: &Url) -> Result<Vec<FeedItem>, BackfillError> {
    let mut items = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue = vec![start.clone()];
    while let Some(url) = queue.pop() {
        if !seen.insert(url.to_string()) || seen.len() > MAX_DOCUMENTS {
            continue;
        }
        let page = fetcher
            .fetch_any(&url)
            .await
            .map_err(|source| BackfillError::Fetch {
                url: url.to_string(),
                source,
            })?;
        let xml = gunzip_if_needed(page.body).map_err(|reason| BackfillError::Sitemap {
            url: url.to_string(),
            reason,
        })?;
        let document =
            parse_sitemap(&xml, &page.final_url).map_err(|reason| BackfillError::Sitemap {
                url: url.to_string(),
                reason,
            })?;
        tracing::info!(url = %url, sitemaps = document.sitemaps.len(), urls = document.items.len(), "backfill: sitemap read");
        // Depth-first, in document order.
        queue.extend(document.sitemaps.into_iter().rev());
        items.extend(document.items);
    }
    Ok(items)
}

fn gunzip_if_needed(body: Vec<u8>) -> Result<Vec<u8>, String> {
    if !body.starts_with(&[0x1f, 0x8b]) {
        return Ok(body);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .take(MAX_SITEMAP_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() as u64 > MAX_SITEMAP_BYTES {
        return Err(format!(
            "larger than {MAX_SITEMAP_BYTES} bytes decompressed"
        ));
    }
    Ok(out)
}

/// What one sitemap document lists.
#[derive(Debug, Default, PartialEq)]
pub struct SitemapDocument {
    /// Child sitemaps (from a `<sitemapindex>`).
    pub sitemaps: Vec<Url>,
    /// Pages (from a `<urlset>`).
    pub items: Vec<FeedItem>,
}

/// Parses a sitemap or sitemap index (namespaces ignored, so `news:title` and
/// `title` read the same).
pub fn parse_sitemap(xml: &[u8], base: &Url) -> Result<SitemapDocument, String> {
    let text = String::from_utf8_lossy(xml);
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut document = SitemapDocument::default();
    let mut path: Vec<String> = Vec::new();
    let mut value = String::new();
    let mut current = FeedItem::default();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_ascii_lowercase();
                if name == "url" {
                    current = FeedItem::default();
                }
                path.push(name);
                value.clear();
            }
            Event::Text(text) => {
                value.push_str(&text.xml_content(quick_xml::XmlVersion::Implicit1_0))
            }
            Event::CData(data) => value.push_str(&data.into_inner()),
            Event::GeneralRef(reference) => {
                if let Ok(Some(c)) = reference.resolve_char_ref() {
                    value.push(c);
                } else {
                    let entity = reference.into_inner().to_string();
                    value.push_str(match entity.as_str() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => "",
                    });
                }
            }
            Event::End(_) => {
                let name = path.pop().unwrap_or_default();
                let parent = path.last().map(String::as_str).unwrap_or("");
                let text = value.trim().to_string();
                match (parent, name.as_str()) {
                    ("sitemap", "loc") => {
                        if let Ok(url) = base.join(&text) {
                            document.sitemaps.push(url);
                        }
                    }
                    ("url", "loc") => current.link = base.join(&text).ok().map(String::from),
                    ("url", "lastmod") => {
                        current.updated = feed::parse_date(&text);
                    }
                    ("news", "title") => current.title = Some(text).filter(|t| !t.is_empty()),
                    ("news", "publication_date") => current.published = feed::parse_date(&text),
                    (_, "url") if current.link.is_some() => {
                        document.items.push(std::mem::take(&mut current));
                    }
                    _ => {}
                }
                value.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(document)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_news_sitemaps_and_indexes() {
        let base = Url::parse("https://news.example/sitemap.xml").unwrap();
        let index = br#"<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://news.example/sitemap-1.xml</loc></sitemap>
  <sitemap><loc>/sitemap-2.xml.gz</loc><lastmod>2026-04-14</lastmod></sitemap>
</sitemapindex>"#;
        let doc = parse_sitemap(index, &base).unwrap();
        assert_eq!(
            doc.sitemaps,
            vec![
                Url::parse("https://news.example/sitemap-1.xml").unwrap(),
                Url::parse("https://news.example/sitemap-2.xml.gz").unwrap()
            ]
        );
        let urlset = br#"<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url><loc>https://news.example/a?x=1&amp;y=2</loc>
    <news:news><news:publication><news:name>Example</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2026-04-14T08:01:10Z</news:publication_date>
      <news:title>Harbour &amp; town</news:title></news:news></url>
  <url><loc>https://news.example/b</loc><lastmod>2026-04-13</lastmod></url>
</urlset>"#;
        let doc = parse_sitemap(urlset, &base).unwrap();
        assert_eq!(doc.items.len(), 2);
        assert_eq!(
            doc.items[0].link.as_deref(),
            Some("https://news.example/a?x=1&y=2")
        );
        assert_eq!(doc.items[0].title.as_deref(), Some("Harbour & town"));
        assert_eq!(
            doc.items[0].published.map(|t| t.to_rfc3339()),
            Some("2026-04-14T08:01:10+00:00".into())
        );
        assert!(doc.items[1].updated.is_some());
    }

    #[test]
    fn gzip_is_unpacked_and_bombs_refused() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<urlset/>").unwrap();
        assert_eq!(
            gunzip_if_needed(gz.finish().unwrap()).unwrap(),
            b"<urlset/>"
        );
        let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..(MAX_SITEMAP_BYTES / zeros.len() as u64 + 2) {
            bomb.write_all(&zeros).unwrap();
        }
        assert!(gunzip_if_needed(bomb.finish().unwrap()).is_err());
        assert_eq!(gunzip_if_needed(b"plain".to_vec()).unwrap(), b"plain");
    }
}
