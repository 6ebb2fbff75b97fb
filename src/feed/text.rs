//! HTML fragment to plain text.

use dom_query::{Document, NodeRef};

use crate::extract::depth;

const SKIP: &[&str] = &[
    "script", "style", "template", "head", "noscript", "iframe", "object", "svg", "title",
];
const PARAGRAPH: &[&str] = &[
    "p",
    "div",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "table",
    "section",
    "article",
    "header",
    "footer",
    "figure",
    "figcaption",
    "hr",
    "dl",
    "aside",
    "nav",
    "main",
    "address",
    "details",
    "form",
    "fieldset",
    "center",
];
const LINE: &[&str] = &["li", "tr", "dt", "dd", "summary", "caption"];

struct Out {
    buf: String,
    /// 0 none, 1 line break, 2 paragraph break pending before the next text.
    pending: u8,
}

impl Out {
    fn brk(&mut self, n: u8) {
        self.pending = self.pending.max(n);
    }
    fn text(&mut self, t: &str) {
        let mut words = t.split_whitespace().peekable();
        if words.peek().is_none() {
            // whitespace only: at most a separating space
            if !t.is_empty()
                && !self.buf.is_empty()
                && self.pending == 0
                && !self.buf.ends_with([' ', '\n'])
            {
                self.buf.push(' ');
            }
            return;
        }
        let leading_space = t.starts_with(char::is_whitespace);
        if self.pending > 0 && !self.buf.is_empty() {
            while self.buf.ends_with(' ') {
                self.buf.pop();
            }
            self.buf
                .push_str(if self.pending >= 2 { "\n\n" } else { "\n" });
        } else if leading_space && !self.buf.is_empty() && !self.buf.ends_with([' ', '\n']) {
            self.buf.push(' ');
        }
        self.pending = 0;
        let mut first = true;
        for w in words {
            if !first {
                self.buf.push(' ');
            }
            self.buf.push_str(w);
            first = false;
        }
        if t.ends_with(char::is_whitespace) {
            self.buf.push(' ');
        }
    }
}

enum Step<'a> {
    Enter(NodeRef<'a>),
    Exit(u8),
}

/// Parses item HTML from a feed through the extractor's pre-pass, so the
/// same depth cap bounds it: html5ever's tree builder is quadratic in
/// nesting depth (40,000 nested `<div>`s in one description took 12 s).
/// The pre-pass also cuts `<nav>`/`<aside>`/`<footer>` subtrees and
/// attributes, which this rendering skips or never reads anyway.
pub(crate) fn parse_fragment(html: &str) -> Document {
    Document::fragment(depth::cap_depth(html).as_ref())
}

/// Plain text of an HTML fragment: block elements become paragraph breaks
/// ("\n\n"), `<br>` and list items line breaks, entities are decoded and
/// whitespace is collapsed. Script/style content is dropped, and so are
/// `<nav>`, `<aside>` and `<footer>` (as in article text).
pub fn html_to_text(html: &str) -> String {
    if !html.contains(['<', '&']) {
        return collapse_ws_keep_paragraphs(html);
    }
    let doc = parse_fragment(html);
    let mut out = Out {
        buf: String::new(),
        pending: 0,
    };
    let mut stack = vec![Step::Enter(doc.root())];
    while let Some(step) = stack.pop() {
        match step {
            Step::Exit(n) => out.brk(n),
            Step::Enter(node) => {
                if node.is_text() {
                    out.text(&node.text());
                    continue;
                }
                let mut brk = 0u8;
                if node.is_element() {
                    let name = node
                        .node_name()
                        .map(|n| n.to_ascii_lowercase())
                        .unwrap_or_default();
                    if SKIP.contains(&name.as_str()) {
                        continue;
                    }
                    if name == "br" {
                        out.brk(1);
                        continue;
                    }
                    if PARAGRAPH.contains(&name.as_str()) {
                        brk = 2;
                    } else if LINE.contains(&name.as_str()) {
                        brk = 1;
                    }
                    out.brk(brk);
                } else if !(node.is_document() || node.is_fragment()) {
                    // comments, doctypes, processing instructions
                    continue;
                }
                stack.push(Step::Exit(brk));
                for child in node.children().into_iter().rev() {
                    stack.push(Step::Enter(child));
                }
            }
        }
    }
    let mut s = out.buf;
    while s.ends_with(char::is_whitespace) {
        s.pop();
    }
    // no trailing spaces at line ends
    if s.contains(" \n") {
        s = s
            .split('\n')
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n");
    }
    s.trim_start().to_string()
}

fn collapse_ws_keep_paragraphs(s: &str) -> String {
    let paras: Vec<String> = s
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect();
    paras.join("\n\n")
}

/// Collapse all whitespace (including newlines) to single spaces.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
        collapse_ws(&html_to_text(s))
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
