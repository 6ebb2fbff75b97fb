//! Metadata pass: title, authors, dates, language, description, image,
//! site name and canonical URL from meta tags, JSON-LD and the markup.

use chrono::{DateTime, Utc};
use dom_query::{Document, NodeRef};
use serde_json::Value;
use url::Url;

use super::jsonld;
use super::title::strip_site;
pub use super::title::strip_site_suffix;
use crate::text::collapse_ws as normalize_ws;
pub use crate::text::dates::parse_date;

/// Metadata found on a page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub title: Option<String>,
    pub authors: Vec<String>,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub language: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub site_name: Option<String>,
    pub canonical_url: Option<String>,
}

/// Content of the first `<meta>` whose `property` or `name` (or `itemprop`)
/// equals one of `keys` (case-insensitive), in the order of `keys`.
pub fn meta(doc: &Document, keys: &[&str]) -> Option<String> {
    meta_in(doc.select("meta").nodes(), keys)
}

/// [`meta`] over an already collected list of `<meta>` elements, so one
/// page's many lookups share one walk of the tree.
fn meta_in(metas: &[NodeRef], keys: &[&str]) -> Option<String> {
    for key in keys {
        for m in metas {
            let hit = ["property", "name", "itemprop"].iter().any(|a| {
                m.attr(a)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case(key))
            });
            if hit && let Some(c) = m.attr("content") {
                let c = normalize_ws(&c);
                if !c.is_empty() {
                    return Some(c);
                }
            }
        }
    }
    None
}

/// Resolve a possibly-relative URL against the page URL.
pub fn absolutize(raw: &str, base: Option<&Url>) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if let Ok(u) = Url::parse(raw) {
        return matches!(u.scheme(), "http" | "https").then(|| u.to_string());
    }
    let u = base?.join(raw).ok()?;
    matches!(u.scheme(), "http" | "https").then(|| u.to_string())
}

/// Title candidates found on a page (raw, unstripped).
#[derive(Debug, Default)]
pub struct TitleCandidates {
    pub h1: Option<String>,
    pub jsonld: Option<String>,
    pub og: Option<String>,
    pub tag: Option<String>,
}

/// Reconcile title candidates, site suffixes stripped from all. With an
/// explicit `order` (from a site rule: "og", "jsonld", "title", "h1") the
/// first present wins. Otherwise og:title (the publisher's chosen share
/// title), then the JSON-LD headline, then `<title>`, then `<h1>`.
fn pick_title(
    c: TitleCandidates,
    site: Option<&str>,
    host: Option<&str>,
    order: &[String],
) -> Option<String> {
    let clean = |t: &Option<String>| {
        t.as_deref()
            .map(|t| strip_site(t, site, host))
            .filter(|t| !t.is_empty())
    };
    let (h1, ld, og, tag) = (clean(&c.h1), clean(&c.jsonld), clean(&c.og), clean(&c.tag));
    if !order.is_empty() {
        let found = order.iter().find_map(|o| match o.as_str() {
            "og" => og.clone(),
            "jsonld" => ld.clone(),
            "title" => tag.clone(),
            "h1" => h1.clone(),
            _ => None,
        });
        if found.is_some() {
            return found;
        }
    }
    og.or(ld).or(tag).or(h1)
}

/// Clean an author string: strip "By", split lists, drop URLs and junk.
pub fn clean_authors(raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in raw {
        let r = normalize_ws(r.split('(').next().unwrap_or_default());
        let lower = r.to_lowercase();
        let r = if lower.starts_with("by ") {
            r[3..].trim().to_string()
        } else {
            r
        };
        for part in r.split([',', ';', '|', '&']).flat_map(|p| p.split(" and ")) {
            let p = part
                .trim()
                .trim_start_matches("By ")
                .trim_start_matches("by ")
                .trim();
            let p = p
                .trim_matches(|c: char| c.is_ascii_punctuation() && c != '.')
                .trim();
            if p.is_empty()
                || p.len() > 80
                || p.contains("://")
                || p.starts_with("www.")
                || p.chars().any(|c| c.is_ascii_digit())
                || p.split_whitespace().count() > 6
            {
                continue;
            }
            let pl = p.to_lowercase();
            if matches!(
                pl.as_str(),
                "staff" | "reporter" | "editor" | "admin" | "correspondent"
            ) {
                continue;
            }
            if !out.iter().any(|o| o.to_lowercase() == pl) {
                out.push(p.to_string());
            }
        }
    }
    out
}

/// A declared language tag, kept as the page declares it but in BCP 47's
/// casing (`en-gb` → `en-GB`, `zh-hant-tw` → `zh-Hant-TW`, `fr_FR` →
/// `fr-FR`). A value that is not a language (`english`, `x-default`, or
/// `und`, `mul`, `zxx`: undetermined, several, none) declares nothing.
fn lang_norm(s: &str) -> Option<String> {
    let s = s.trim().replace('_', "-");
    let ok =
        !s.is_empty() && s.len() <= 35 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return None;
    }
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default().to_ascii_lowercase();
    let is_language = (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && !matches!(first.as_str(), "und" | "mul" | "zxx" | "mis");
    if !is_language {
        return None;
    }
    let rest = parts.map(|p| {
        let alpha = p.chars().all(|c| c.is_ascii_alphabetic());
        match p.len() {
            2 if alpha => p.to_ascii_uppercase(),
            4 if alpha => {
                let lower = p.to_ascii_lowercase();
                lower[..1].to_ascii_uppercase() + &lower[1..]
            }
            _ => p.to_ascii_lowercase(),
        }
    });
    Some(
        std::iter::once(first)
            .chain(rest)
            .collect::<Vec<_>>()
            .join("-"),
    )
}

/// Byline elements in the page, as a fallback for authors.
fn byline_authors(doc: &Document) -> Vec<String> {
    let mut raw = Vec::new();
    for sel in [
        "[itemprop=author] [itemprop=name]",
        "a[rel=author]",
        "[rel=author]",
        "[itemprop=author]",
        ".byline__name",
        ".author-name",
        ".byline a",
        ".byline",
    ] {
        for n in doc.select(sel).nodes().iter().take(5) {
            let t = normalize_ws(&n.text());
            if !t.is_empty() && t.len() < 100 {
                raw.push(t);
            }
        }
        if !raw.is_empty() {
            break;
        }
    }
    clean_authors(&raw)
}

/// Run the metadata pass.
pub fn extract_metadata(doc: &Document, url: Option<&Url>, objs: &[Value]) -> Metadata {
    extract_metadata_with(doc, url, objs, &[])
}

/// Run the metadata pass with a site-specific title source order.
pub fn extract_metadata_with(
    doc: &Document,
    url: Option<&Url>,
    objs: &[Value],
    title_order: &[String],
) -> Metadata {
    let metas_sel = doc.select("meta");
    let metas = metas_sel.nodes();
    let art = jsonld::main_article(objs);
    let ld_str = |k: &str| art.and_then(|a| jsonld::str_field(a, k)).map(normalize_ws);

    let canonical_raw = doc
        .select("link[rel]")
        .nodes()
        .iter()
        .find(|n| {
            n.attr("rel").is_some_and(|r| {
                r.split_whitespace()
                    .any(|x| x.eq_ignore_ascii_case("canonical"))
            })
        })
        .and_then(|n| n.attr("href").map(|h| h.to_string()))
        .or_else(|| meta_in(metas, &["og:url"]));
    let canonical_url = canonical_raw.and_then(|c| absolutize(&c, url));
    let base_owned = canonical_url.as_deref().and_then(|c| Url::parse(c).ok());
    let base = url.or(base_owned.as_ref());

    let site_name = meta_in(metas, &["og:site_name", "application-name"]).or_else(|| {
        art.and_then(|a| jsonld::names(a.get("publisher")).into_iter().next())
            .or_else(|| {
                objs.iter()
                    .find(|o| jsonld::types(o).contains(&"WebSite"))
                    .and_then(|o| jsonld::str_field(o, "name").map(normalize_ws))
            })
    });

    let h1 = doc
        .select("h1")
        .nodes()
        .iter()
        .map(|n| normalize_ws(&n.text()))
        .find(|t| !t.is_empty());
    let tag = doc
        .select("title")
        .nodes()
        .first()
        .map(|n| normalize_ws(&n.text()));
    let og = meta_in(metas, &["og:title", "twitter:title"]);
    let host = url
        .and_then(Url::host_str)
        .or_else(|| base.and_then(Url::host_str));
    let ld_title = ld_str("headline").or_else(|| ld_str("name"));
    let cands = TitleCandidates {
        h1,
        jsonld: ld_title,
        og,
        tag,
    };
    let title = pick_title(cands, site_name.as_deref(), host, title_order);

    let mut raw_authors: Vec<String> = art
        .map(|a| jsonld::names(a.get("author")))
        .unwrap_or_default();
    let mut authors = clean_authors(&raw_authors);
    if authors.is_empty() {
        raw_authors.clear();
        for key in [
            "author",
            "article:author",
            "parsely-author",
            "sailthru.author",
            "dc.creator",
            "byl",
        ] {
            for m in metas {
                let hit = ["property", "name"].iter().any(|a| {
                    m.attr(a)
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case(key))
                });
                if hit && let Some(c) = m.attr("content") {
                    raw_authors.push(c.to_string());
                }
            }
            if !raw_authors.is_empty() {
                break;
            }
        }
        authors = clean_authors(&raw_authors);
    }
    if authors.is_empty() {
        authors = byline_authors(doc);
    }

    let time_attr = |sel: &str| {
        doc.select(sel).nodes().iter().find_map(|n| {
            n.attr("datetime")
                .or_else(|| n.attr("content"))
                .and_then(|d| parse_date(&d))
        })
    };
    let published_at = ld_str("datePublished")
        .and_then(|d| parse_date(&d))
        .or_else(|| {
            meta_in(
                metas,
                &[
                    "article:published_time",
                    "og:article:published_time",
                    "datePublished",
                    "parsely-pub-date",
                    "pubdate",
                    "publishdate",
                    "publish-date",
                    "sailthru.date",
                    "dc.date",
                    "dc.date.issued",
                    "date",
                ],
            )
            .and_then(|d| parse_date(&d))
        })
        .or_else(|| time_attr("[itemprop=datePublished]"))
        .or_else(|| ld_str("dateCreated").and_then(|d| parse_date(&d)))
        .or_else(|| time_attr("time[datetime]"));
    let updated_at = ld_str("dateModified")
        .and_then(|d| parse_date(&d))
        .or_else(|| {
            meta_in(
                metas,
                &[
                    "article:modified_time",
                    "og:updated_time",
                    "dateModified",
                    "last-modified",
                ],
            )
            .and_then(|d| parse_date(&d))
        })
        .or_else(|| time_attr("[itemprop=dateModified]"));

    let language = doc
        .select("html[lang]")
        .nodes()
        .first()
        .and_then(|n| n.attr("lang"))
        .and_then(|l| lang_norm(&l))
        .or_else(|| ld_str("inLanguage").and_then(|l| lang_norm(&l)))
        .or_else(|| {
            meta_in(metas, &["og:locale", "content-language", "language"])
                .and_then(|l| lang_norm(&l))
        })
        .or_else(|| {
            metas
                .iter()
                .find(|n| {
                    n.attr("http-equiv")
                        .is_some_and(|h| h.eq_ignore_ascii_case("content-language"))
                })
                .and_then(|n| n.attr("content"))
                .and_then(|l| lang_norm(&l))
        });

    let description = meta_in(
        metas,
        &["og:description", "description", "twitter:description"],
    )
    .or_else(|| ld_str("description"));
    let image = meta_in(metas, &["og:image", "og:image:url", "og:image:secure_url"])
        .or_else(|| art.and_then(|a| jsonld::url_of(a.get("image"))))
        .or_else(|| meta_in(metas, &["twitter:image", "twitter:image:src"]))
        .and_then(|i| absolutize(&i, base));

    Metadata {
        title,
        authors,
        published_at,
        updated_at,
        language,
        description,
        image,
        site_name,
        canonical_url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html lang="en-gb"><head>
<title>Rain expected all week - Example News</title>
<meta property="og:title" content="Rain expected all week">
<meta property="og:site_name" content="Example News">
<meta property="og:image" content="/img/rain.jpg">
<meta name="description" content="Forecasters say so.">
<meta property="article:published_time" content="2024-03-05T10:20:00+01:00">
<meta name="author" content="By Jane Doe and John Roe">
<link rel="canonical" href="https://example.com/news/rain">
</head><body><h1>Rain expected all week</h1><p>Body</p></body></html>"#;

    #[test]
    fn meta_tags() {
        let doc = Document::from(PAGE);
        let url = Url::parse("https://example.com/news/rain?utm_source=x").ok();
        let m = extract_metadata(&doc, url.as_ref(), &[]);
        assert_eq!(m.title.as_deref(), Some("Rain expected all week"));
        assert_eq!(m.authors, vec!["Jane Doe", "John Roe"]);
        assert_eq!(m.language.as_deref(), Some("en-GB"));
        assert_eq!(m.image.as_deref(), Some("https://example.com/img/rain.jpg"));
        assert_eq!(
            m.canonical_url.as_deref(),
            Some("https://example.com/news/rain")
        );
        assert_eq!(m.site_name.as_deref(), Some("Example News"));
        assert_eq!(m.description.as_deref(), Some("Forecasters say so."));
        assert_eq!(
            m.published_at.map(|d| d.to_rfc3339()).as_deref(),
            Some("2024-03-05T09:20:00+00:00")
        );
    }

    #[test]
    fn jsonld_wins_for_dates_and_authors() {
        let html = r#"<html><head><script type="application/ld+json">
{"@type":"NewsArticle","headline":"Budget day","datePublished":"2023-11-22T12:00:00Z",
 "dateModified":"2023-11-23T08:00:00.000Z","author":[{"name":"Ann Lee"},{"name":"Ann Lee"}],"inLanguage":"fr"}
</script><title>Budget day | Paper</title></head><body><h1>Something else entirely</h1></body></html>"#;
        let doc = Document::from(html);
        let objs = jsonld::objects(&doc);
        let m = extract_metadata(&doc, None, &objs);
        assert_eq!(m.title.as_deref(), Some("Budget day"));
        assert_eq!(m.authors, vec!["Ann Lee"]);
        assert_eq!(m.language.as_deref(), Some("fr"));
        assert!(m.published_at.is_some() && m.updated_at.is_some());
    }

    #[test]
    fn declared_languages_in_bcp47_casing() {
        for (declared, tag) in [
            ("en-gb", Some("en-GB")),
            ("EN", Some("en")),
            ("fr_FR", Some("fr-FR")),
            ("zh-hant-tw", Some("zh-Hant-TW")),
            ("es-419", Some("es-419")),
            (" de ", Some("de")),
            ("english", None),
            ("x-default", None),
            ("und", None),
            ("en us", None),
            ("", None),
        ] {
            assert_eq!(lang_norm(declared).as_deref(), tag, "{declared:?}");
        }
        // A placeholder on <html> gives way to the next declaration.
        let doc = Document::from(
            r#"<html lang="und"><head><meta property="og:locale" content="pt_BR"></head></html>"#,
        );
        let m = extract_metadata(&doc, None, &[]);
        assert_eq!(m.language.as_deref(), Some("pt-BR"));
    }

    #[test]
    fn authors_cleaned() {
        let a = clean_authors(&[
            "By Jane Doe, John Roe".into(),
            "https://x.com/jane".into(),
            "jane doe".into(),
        ]);
        assert_eq!(a, vec!["Jane Doe", "John Roe"]);
    }
}
