//! Pruning passes: boilerplate elements removed from the DOM before
//! extraction, and boilerplate paragraphs removed from the text after.

use dom_query::{Document, Matcher};
use std::sync::OnceLock;

/// Selectors for elements that are never main text.
const JUNK_SELECTORS: &[&str] = &[
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "button",
    "select",
    "textarea",
    "figcaption",
    "[hidden]",
    "[aria-hidden=true]",
    "[class*=newsletter]",
    "[id*=newsletter]",
    "[class*=cookie]",
    "[id*=cookie]",
    "[class*=consent]",
    "[class*=share-bar]",
    "[class*=social-share]",
    "[class*=sharebar]",
    "[class*=related-]",
    "[class*=-related]",
    "[class*=promo]",
    "[class*=advert]",
    "[data-component=related]",
    "[data-component*=related]",
    "[data-component*=links-block]",
    "[data-component*=byline]",
    "[data-component*=timestamp]",
    "[data-component*=promo]",
    "[class*=byline]",
    "[class*=read-more]",
    "[class*=readmore]",
];

/// All junk selectors as one selector list, so pruning walks the tree once.
fn junk_matcher() -> Option<&'static Matcher> {
    static M: OnceLock<Option<Matcher>> = OnceLock::new();
    M.get_or_init(|| Matcher::new(&JUNK_SELECTORS.join(", ")).ok())
        .as_ref()
}

/// Remove obvious boilerplate elements from the document (in place).
pub fn prune_dom(doc: &Document) {
    let Some(matcher) = junk_matcher() else {
        return;
    };
    for n in doc.select_matcher(matcher).nodes() {
        // Never remove the page's root containers.
        let name = n
            .node_name()
            .map(|x| x.to_ascii_lowercase())
            .unwrap_or_default();
        if !matches!(name.as_str(), "html" | "body" | "main" | "article") {
            n.remove_from_parent();
        }
    }
}

const JUNK_PREFIXES: &[&str] = &[
    "read more:",
    "read more about",
    "more on this story",
    "related:",
    "related articles",
    "related stories",
    "sign up for",
    "sign up to",
    "subscribe to our",
    "advertisement",
    "share this article",
    "share on ",
    "follow us on",
    "click here to",
    "image source,",
    "image caption,",
    "media caption,",
    "getty images",
    "dark mode",
    "light mode",
    "listen to this article",
    "this article is more than",
    "most read",
    "recommended reading",
    "we use cookies",
    "accept cookies",
    "cookie settings",
    "skip advertisement",
    "watch:",
    "download the app",
    "get our newsletter",
    "join our newsletter",
];

const JUNK_EXACT: &[&str] = &[
    "advertisement",
    "ad",
    "share",
    "comments",
    "read more",
    "related",
    "continue reading",
    "story continues below",
    "story continues below advertisement",
    "dark mode",
    "toggle dark mode",
    "image",
    "video",
    "copy link",
    "link copied",
    "print",
    "email",
    "facebook",
    "twitter",
    "whatsapp",
];

fn is_junk_paragraph(p: &str) -> bool {
    let l = p.trim().to_lowercase();
    let l = l.trim_end_matches(['.', ':', '!']);
    if JUNK_EXACT.contains(&l) {
        return true;
    }
    JUNK_PREFIXES.iter().any(|j| l.starts_with(j)) && l.len() < 200
}

/// Remove boilerplate paragraphs, a leading headline, and a leading byline.
pub fn prune_text(text: &str, title: Option<&str>, authors: &[String]) -> String {
    let title_key = title.map(key).unwrap_or_default();
    let mut out: Vec<String> = Vec::new();
    for (i, para) in text.split("\n\n").enumerate() {
        let lines: Vec<&str> = para
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !is_junk_paragraph(l))
            .collect();
        if lines.is_empty() {
            continue;
        }
        let para = lines.join("\n");
        if i < 3 && out.is_empty() && !title_key.is_empty() && key(&para) == title_key {
            continue;
        }
        if out.len() < 3 && is_byline(&para, authors) {
            continue;
        }
        out.push(para);
    }
    out.join("\n\n")
}

fn key(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_byline(p: &str, authors: &[String]) -> bool {
    if p.len() > 120 {
        return false;
    }
    let l = p.to_lowercase();
    if l.starts_with("by ") && p.split_whitespace().count() <= 12 {
        return true;
    }
    let k = key(p);
    !k.is_empty() && authors.iter().any(|a| key(a) == k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_boilerplate_elements() {
        let doc = Document::from(
            "<body><article><p>Real text.</p><div class='newsletter-box'>Sign up now</div>\
             <figure><figcaption>Photo: X</figcaption></figure><div class='promo-item'>Promo</div></article></body>",
        );
        prune_dom(&doc);
        let t = doc.select("body").text();
        assert!(t.contains("Real text."));
        assert!(!t.contains("Sign up") && !t.contains("Photo") && !t.contains("Promo"));
    }

    #[test]
    fn drops_boilerplate_paragraphs() {
        let t = "Big Headline\n\nBy Jane Doe\n\nFirst para.\n\nRead more: other story\n\nAdvertisement\n\nLast para.";
        assert_eq!(
            prune_text(t, Some("Big headline"), &["Jane Doe".into()]),
            "First para.\n\nLast para."
        );
    }

    #[test]
    fn keeps_list_lines() {
        assert_eq!(prune_text("a\nShare\nb", None, &[]), "a\nb");
    }
}
