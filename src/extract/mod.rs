//! Article text extraction: decode → pre-pass → parse once → metadata →
//! site rules → JSON-LD articleBody (when complete) → Readability beside a
//! block classifier, with self-checks (`choose`) → text rendering → pruning.
//! See docs/extraction.md.

pub mod access;
mod attrs;
pub mod blocks;
mod choose;
mod comment_thread;
pub mod depth;
mod formatting;
pub mod interstitial;
pub mod jsonld;
mod junk;
mod match_key;
pub mod metadata;
#[cfg(test)]
mod proptests;
pub mod prune;
pub mod rules;
mod stopwords;
mod story_lists;
mod tags;
mod title;

pub use crate::text::charset::decode_html;
pub use access::Access;
pub use interstitial::Interstitial;
pub use metadata::{Metadata, extract_metadata, extract_metadata_with};

use dom_query::Document;

use crate::text::html_text::{Profile, render};
use crate::text::{collapse_ws, truncate_at_char_boundary};
use dom_smoothie::{Config, Readability, TextMode};

/// How the main text was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtractionMethod {
    SiteRule,
    JsonLd,
    /// The generic path: Readability or, when its text fails the
    /// self-checks, the block classifier ([`blocks`], [`choose`]).
    Readability,
    FeedContent,
    FeedSummary,
}

/// Everything extracted from one article page.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Extracted {
    pub title: Option<String>,
    pub text: String,
    pub authors: Vec<String>,
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub language: Option<String>,
    pub description: Option<String>,
    pub image: Option<String>,
    pub site_name: Option<String>,
    pub canonical_url: Option<String>,
    pub method: Option<ExtractionMethod>,
    /// Whether the page declares its article free or paywalled.
    pub access: Access,
    /// The page is a challenge or a consent wall, not an article.
    pub interstitial: Option<Interstitial>,
}

/// Pages larger than this are cut (at a char boundary) before parsing.
const MAX_HTML_BYTES: usize = 8 * 1024 * 1024;
/// Minimum text a site rule must yield to be trusted.
const MIN_RULE_CHARS: usize = 200;
/// Minimum JSON-LD articleBody length to be used.
const MIN_JSONLD_CHARS: usize = 600;
/// Length from which a JSON-LD articleBody without any break is taken for
/// a flattened story rather than a one-paragraph one.
const MIN_FLAT_CHARS: usize = 1_500;
/// Element count above which Readability is skipped (bounded time).
const MAX_READABILITY_ELEMENTS: usize = 60_000;
/// Nesting depth above which Readability is skipped (its passes recurse).
const MAX_READABILITY_DEPTH: usize = 1_000;

/// Element count and maximum element depth, computed without recursion.
fn doc_shape(doc: &Document) -> (usize, usize) {
    let mut count = 0;
    let mut max_depth = 0;
    let mut stack = vec![(doc.root(), 0usize)];
    while let Some((node, depth)) = stack.pop() {
        if node.is_element() {
            count += 1;
            max_depth = max_depth.max(depth);
        }
        for c in node.children_it(false) {
            if c.is_element() {
                stack.push((c, depth + 1));
            }
        }
    }
    (count, max_depth)
}

/// Render the JSON-LD articleBody (plain text or HTML) when it is complete.
fn jsonld_body(objs: &[serde_json::Value]) -> Option<String> {
    let art = jsonld::main_article(objs)?;
    let body = jsonld::str_field(art, "articleBody")?;
    if body.len() < MIN_JSONLD_CHARS {
        return None;
    }
    let trimmed = body.trim_end();
    if trimmed.ends_with("...") || trimmed.ends_with('…') || trimmed.ends_with("[…]") {
        return None;
    }
    // A long body without a single break has lost the story's paragraphs,
    // subheadings and list items (all run into one line): the page's own
    // text, which has them, is better.
    let html = body.contains("</p>") || body.contains("<br");
    if body.len() >= MIN_FLAT_CHARS && !html && !body.contains('\n') {
        return None;
    }
    let text = if html {
        let frag = Document::fragment(body);
        render(&frag.root(), Profile::Article)
    } else {
        body.split('\n')
            .map(|l| {
                if l.contains('&') && l.contains(';') {
                    // Entities left encoded in the JSON string ("&rsquo;").
                    collapse_ws(&Document::fragment(l).root().text())
                } else {
                    collapse_ws(l)
                }
            })
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    };
    Some(text)
}

fn readability_text(doc: Document) -> Option<String> {
    let cfg = Config {
        text_mode: TextMode::Formatted,
        ..Default::default()
    };
    // No document URL: it only serves to make the article's links absolute,
    // and links are not part of the text.
    let mut r = Readability::with_document(doc, None, Some(cfg)).ok()?;
    let article = r.parse().ok()?;
    // Render the article straight from Readability's tree rather than
    // serializing it to HTML and parsing that again.
    let root = r.doc.select_single("#readability-page-1");
    let t = match root.nodes().first() {
        Some(node) => {
            prune::prune_subtree(node);
            render(node, Profile::Article)
        }
        None => String::new(),
    };
    if t.is_empty() {
        let t = article.text_content.to_string();
        return (!t.trim().is_empty()).then(|| t.trim().to_string());
    }
    Some(t)
}

/// Full extraction. Never panics on any input; time is bounded by the input
/// size cap and by skipping Readability on pathological documents.
pub fn extract(html: &str, url: Option<&url::Url>) -> Extracted {
    let html = truncate_at_char_boundary(html, MAX_HTML_BYTES);
    let mut out = extract_page(html, url);
    out.interstitial = interstitial::detect(html, url, out.title.as_deref(), &out.text);
    out
}

fn extract_page(html: &str, url: Option<&url::Url>) -> Extracted {
    let html = depth::cap_depth(html);
    let doc = Document::from(html.as_ref());
    let objs = jsonld::objects(&doc);
    let url_host = url.and_then(|u| u.host_str().map(str::to_string));
    let mut rule = url_host.as_deref().and_then(rules::rule_for_host);
    let meta = extract_metadata_with(&doc, url, &objs, rule.map_or(&[], |r| r.title.as_slice()));
    if rule.is_none() && url_host.is_none() {
        // No page URL: fall back to the canonical URL's host.
        rule = meta
            .canonical_url
            .as_deref()
            .and_then(|c| url::Url::parse(c).ok())
            .and_then(|u| u.host_str().and_then(rules::rule_for_host));
    }

    let mut out = Extracted {
        title: meta.title.clone(),
        authors: meta.authors.clone(),
        published_at: meta.published_at,
        updated_at: meta.updated_at,
        language: meta.language.clone(),
        description: meta.description.clone(),
        image: meta.image.clone(),
        site_name: meta.site_name.clone(),
        canonical_url: meta.canonical_url.clone(),
        access: access::detect(&doc, &objs),
        ..Default::default()
    };
    // The story's other headlines, which may lead its text instead of the title.
    let headlines: Vec<&str> = jsonld::main_article(&objs)
        .map(|a| {
            ["headline", "name"]
                .iter()
                .filter_map(|f| jsonld::str_field(a, f))
                .collect()
        })
        .unwrap_or_default();
    let finish =
        |t: String| prune::prune_text(&t, meta.title.as_deref(), &headlines, &meta.authors);

    if let Some(rule) = rule
        && let Some(t) = rules::apply(rule, &doc, MIN_RULE_CHARS)
    {
        let t = finish(t);
        if t.len() >= MIN_RULE_CHARS {
            out.text = t;
            out.method = Some(ExtractionMethod::SiteRule);
            return out;
        }
    }

    let (count, depth) = doc_shape(&doc);
    // Boilerplate known by class and data-* attributes goes first (Readability
    // drops those attributes from its output).
    prune::prune_dom(&doc);
    let huge = count > MAX_READABILITY_ELEMENTS || depth > MAX_READABILITY_DEPTH;
    let blocks = match doc.body() {
        Some(b) if !huge => blocks::classified(&b),
        _ => Vec::new(),
    };

    if let Some(t) = jsonld_body(&objs) {
        let t = finish(t);
        // A body that is a fraction of the page's text is a teaser or cut.
        if t.len() >= MIN_JSONLD_CHARS && choose::complete_enough(&t, &blocks) {
            out.text = t;
            out.method = Some(ExtractionMethod::JsonLd);
            return out;
        }
    }

    let t = if huge {
        doc.body().map(|b| render(&b, Profile::Article))
    } else {
        let r = readability_text(doc);
        Some(choose::choose(r, &blocks, meta.description.as_deref()).0)
    };
    if let Some(t) = t.map(finish).filter(|t| !t.is_empty()) {
        out.text = t;
        out.method = Some(ExtractionMethod::Readability);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article_html() -> String {
        let para = "The council voted on Tuesday to approve the new cycle lanes after months of debate, \
                    with residents split over the plan and shop owners worried about parking. ";
        format!(
            r#"<html lang="en"><head><title>Cycle lanes approved - Town Gazette</title>
<meta property="og:site_name" content="Town Gazette"></head><body>
<nav><a href="/">Home</a><a href="/news">News</a></nav>
<article><h1>Cycle lanes approved</h1><p class="byline">By Sam Field</p>
<p>{para}</p><figure><img src="a.jpg" alt="A bike"><figcaption>A cyclist in town</figcaption></figure>
<p>{para}{para}</p><h2>What next</h2><p>{para}</p>
<div class="related-links"><p>Read more: Bus fares to rise</p></div></article>
<footer>Copyright Town Gazette</footer></body></html>"#
        )
    }

    #[test]
    fn readability_path() {
        let url = url::Url::parse("https://gazette.example/news/1").ok();
        let e = extract(&article_html(), url.as_ref());
        assert_eq!(e.method, Some(ExtractionMethod::Readability));
        assert_eq!(e.title.as_deref(), Some("Cycle lanes approved"));
        assert!(e.text.starts_with("The council voted"), "{}", e.text);
        assert!(e.text.contains("\n\nWhat next\n\n"));
        assert!(!e.text.contains("cyclist in town"));
        assert!(!e.text.contains("Bus fares"));
        assert!(!e.text.contains("Copyright"));
        assert!(!e.text.contains("\n\n\n"));
    }

    #[test]
    fn jsonld_path() {
        let body = "Paragraph one of the JSON-LD body, long enough. ".repeat(20);
        let html = format!(
            r#"<html><head><script type="application/ld+json">{{"@type":"NewsArticle","headline":"H","articleBody":"{body}"}}</script></head><body><p>x</p></body></html>"#
        );
        let e = extract(&html, None);
        assert_eq!(e.method, Some(ExtractionMethod::JsonLd));
        assert!(e.text.starts_with("Paragraph one"));
    }

    #[test]
    fn jsonld_body_decoded_and_not_trusted_when_short_of_the_page() {
        let body = "It&rsquo;s the first paragraph of the JSON-LD body, long enough. ".repeat(12);
        let ld = format!(
            r#"<script type="application/ld+json">{{"@type":"NewsArticle","articleBody":"{body}"}}</script>"#
        );
        let html = format!("<html><head>{ld}</head><body><p>x</p></body></html>");
        let e = extract(&html, None);
        assert_eq!(e.method, Some(ExtractionMethod::JsonLd));
        assert!(e.text.starts_with("It\u{2019}s the first"), "{}", e.text);
        // The page has three times as much article text: the body is a teaser.
        let para = "<p>The council voted on Tuesday to approve the new cycle lanes after months \
            of debate, with residents split over the plan and shop owners worried about parking, \
            and the work is to start in the spring if the county agrees to pay for half of it.</p>";
        let page = format!(
            "<html><head>{ld}</head><body><article>{}</article></body></html>",
            para.repeat(12)
        );
        let e = extract(&page, None);
        assert_eq!(e.method, Some(ExtractionMethod::Readability), "{}", e.text);
    }

    #[test]
    fn a_long_jsonld_body_run_into_one_line_gives_way_to_the_page() {
        let para = "The council voted on Tuesday to approve the new cycle lanes after months \
            of debate, with residents split over the plan and shop owners worried about parking.";
        let ld = format!(
            r#"<script type="application/ld+json">{{"@type":"NewsArticle","articleBody":"{}"}}</script>"#,
            [para; 12].join(" ")
        );
        let page = format!(
            "<html><head>{ld}</head><body><article><h2>The vote</h2>{}</article></body></html>",
            format!("<p>{para}</p>").repeat(12)
        );
        let e = extract(&page, None);
        assert_eq!(e.method, Some(ExtractionMethod::Readability));
        assert!(e.text.contains("The vote\n\nThe council"), "{}", e.text);
    }

    #[test]
    fn a_story_cut_into_sections_between_boxes_is_read_whole() {
        let para = |n: usize| {
            format!(
                "<div class='inline'><p>Paragraph {n} of the story: the department gave up \
                 twelve floors of office space in the spring, and the staff who worked there \
                 were told to share desks with the teams that stayed behind, at least until the \
                 new building is ready.</p></div>"
            )
        };
        let section = |from: usize| {
            format!(
                "<div class='story-block'>{}</div>",
                (from..from + 3).map(para).collect::<String>()
            )
        };
        let trending: String = (1..6)
            .map(|i| format!("<li><a href='/s/{i}'><h3>Other headline number {i}</h3></a></li>"))
            .collect();
        let page = format!(
            "<html><body><div class='main'><h1>Floors given up</h1>{}\
             <div class='rail'><h2>Trending</h2><ul>{trending}</ul></div></div>\
             <div class='more'><div class='ad'>Advertisement</div>{}</div></body></html>",
            section(1),
            section(4)
        );
        let e = extract(&page, None);
        for n in 1..7 {
            assert!(
                e.text.contains(&format!("Paragraph {n} ")),
                "{n}: {}",
                e.text
            );
        }
        assert!(!e.text.contains("Other headline"), "{}", e.text);
    }

    #[test]
    fn empty_page_has_no_method() {
        let e = extract("", None);
        assert!(e.method.is_none());
        assert!(e.text.is_empty());
    }

    #[test]
    fn hostile_pages_still_give_their_text() {
        // 50,000 levels of nesting.
        let deep = format!(
            "<html><body>{}deep text{}</body></html>",
            "<div>".repeat(50_000),
            "</div>".repeat(50_000)
        );
        assert!(extract(&deep, None).text.contains("deep text"));
        let deep_inline = format!("<p>{}x", "<span><b><i>".repeat(20_000));
        let _ = extract(&deep_inline, None);
        // Unclosed chrome elements by the ten thousand: each would have the
        // pre-pass scan to the end of the page for its end tag.
        for chrome in ["<aside>", "<nav><p>x", "<footer><div>"] {
            let page = format!("<body>{}<p>body text</p></body>", chrome.repeat(50_000));
            // The text sits inside unclosed chrome, so it may go; what
            // comes out is text, never markup.
            let text = extract(&page, None).text;
            assert!(
                !text.contains('<') && text.len() <= "body text x".len(),
                "{chrome}"
            );
        }
        // Random bytes, decoded then extracted.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let bytes: Vec<u8> = (0..200_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed & 0xff) as u8
            })
            .collect();
        let s = decode_html(&bytes, None);
        let _ = extract(&s, None);
        let s = String::from_utf8_lossy(&bytes).replace('\u{0}', "<");
        let _ = extract(&s, url::Url::parse("https://www.bbc.com/x").ok().as_ref());
        // A 10 MB page.
        let big = format!(
            "<html><body><article>{}</article></body></html>",
            "<p>Some sentence of a very long page, repeated many times over.</p>".repeat(160_000)
        );
        assert!(big.len() > 10_000_000);
        let e = extract(&big, None);
        assert!(e.text.starts_with("Some sentence of a very long page"));
    }
}
