//! A feed item's HTML fields to plain text, through the one renderer
//! ([`crate::text::html_text`]) that also renders page text: an item's
//! content becomes the same text, by the same rules, as its page would.

use dom_query::Document;

use crate::extract::depth;
use crate::text::collapse_ws;
use crate::text::html_text::{Profile, render};

/// Parses item HTML from a feed through the extractor's pre-pass, so the
/// same depth cap bounds it: html5ever's tree builder is quadratic in
/// nesting depth (40,000 nested `<div>`s in one description took 12 s).
/// The pre-pass also cuts `<nav>`/`<aside>`/`<footer>` subtrees and
/// attributes no rendering reads.
pub(crate) fn parse_fragment(html: &str) -> Document {
    Document::fragment(depth::cap_depth(html).as_ref())
}

/// Plain text of an HTML fragment in `profile`: block elements become
/// paragraph breaks ("\n\n"), `<br>` and list items line breaks, entities are
/// decoded and whitespace is collapsed. Text without markup keeps its
/// paragraphs.
fn render_html(html: &str, profile: Profile) -> String {
    if !html.contains(['<', '&']) {
        return collapse_ws_keep_paragraphs(html);
    }
    render(&parse_fragment(html).root(), profile)
}

/// Article text of an item's HTML content: the message's `text` when the
/// page gave none.
pub fn html_to_text(html: &str) -> String {
    render_html(html, Profile::Article)
}

fn collapse_ws_keep_paragraphs(s: &str) -> String {
    let paras: Vec<String> = s
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    paras.join("\n\n")
}

/// Whether a plain-text field nonetheless carries markup or entity references.
fn looks_like_html(s: &str) -> bool {
    let b = s.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'<' {
            if let Some(&n) = b.get(i + 1)
                && (n.is_ascii_alphabetic() || n == b'/' || n == b'!')
            {
                return true;
            }
        } else if c == b'&' {
            let rest = &b[i + 1..];
            let len = rest.iter().take(12).position(|&x| x == b';');
            if let Some(len) = len
                && len > 0
                && rest[..len]
                    .iter()
                    .all(|x| x.is_ascii_alphanumeric() || *x == b'#')
            {
                return true;
            }
        }
    }
    false
}

/// One-line plain text for titles and names: tags stripped, entities decoded, whitespace collapsed.
pub fn clean_inline(s: &str, is_html: bool) -> String {
    if is_html || looks_like_html(s) {
        collapse_ws(&render_html(s, Profile::Field))
    } else {
        collapse_ws(s)
    }
}

/// Plain text for summaries.
pub fn clean_block(s: &str, is_html: bool) -> String {
    if is_html || looks_like_html(s) {
        html_to_text(s)
    } else {
        collapse_ws_keep_paragraphs(&s.replace("\r\n", "\n"))
    }
}

/// Deepest element nesting of a parsed document.
#[cfg(test)]
pub(crate) fn tree_depth(doc: &Document) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(doc.root(), 0usize)];
    while let Some((node, d)) = stack.pop() {
        deepest = deepest.max(d);
        for child in node.children() {
            stack.push((child, d + usize::from(child.is_element())));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_and_entities() {
        let html = "<p>First &amp; <b>bold</b> para.</p><p>Second&nbsp;one<br>next line</p><script>x()</script>";
        assert_eq!(
            html_to_text(html),
            "First & bold para.\n\nSecond\u{a0}one\nnext line".replace('\u{a0}', " ")
        );
    }

    #[test]
    fn item_content_follows_the_article_rules() {
        // A message's text is the same whether it came from the item's
        // content or from the page: captions and navigation are chrome in both.
        let html = "<p>Lead.</p><figure><img src=x><figcaption>Photo: Reuters</figcaption></figure>\
                    <p>Body.</p><nav>Home</nav><form><button>Subscribe</button></form>";
        assert_eq!(html_to_text(html), "Lead.\n\nBody.");
        let page = Document::from(format!("<body>{html}</body>"));
        let page_text = render(&page.select("body").nodes()[0], Profile::Article);
        assert_eq!(html_to_text(html), page_text);
        // A title keeps what the publisher wrote in it.
        assert_eq!(
            clean_inline("<b>Storm</b> <figcaption>update</figcaption>", true),
            "Storm update"
        );
    }

    #[test]
    fn inline_spacing() {
        assert_eq!(
            html_to_text("Hello <a href=x>world</a>, ok"),
            "Hello world, ok"
        );
        assert_eq!(
            html_to_text("<div>a</div>b<ul><li>one</li><li>two</li></ul>"),
            "a\n\nb\n\none\ntwo"
        );
        assert_eq!(html_to_text("plain text"), "plain text");
        assert_eq!(html_to_text(""), "");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let html = "<div>".repeat(20_000) + "deep" + &"</div>".repeat(20_000);
        assert_eq!(html_to_text(&html), "deep");
    }

    #[test]
    fn item_html_is_parsed_with_the_depth_cap() {
        // One description of 40,000 nested <div>s took 12 s to parse.
        let html = "<div>".repeat(40_000) + "deep" + &"</div>".repeat(40_000);
        let doc = parse_fragment(&html);
        // The fragment wrapper (<html>) adds one level.
        assert!(
            tree_depth(&doc) <= depth::MAX_DEPTH + 1,
            "{}",
            tree_depth(&doc)
        );
        assert_eq!(html_to_text(&html), "deep");
        assert_eq!(clean_block(&html, true), "deep");
        assert_eq!(clean_inline(&html, false), "deep");
    }

    #[test]
    fn inline_cleanup() {
        assert_eq!(
            clean_inline("  A  <em>title</em>\n here ", false),
            "A title here"
        );
        assert_eq!(clean_inline("Tom &amp; Jerry", false), "Tom & Jerry");
        assert_eq!(clean_inline("a < b and c > d", false), "a < b and c > d");
        assert_eq!(clean_inline("AT&T rocks", false), "AT&T rocks");
    }
}
