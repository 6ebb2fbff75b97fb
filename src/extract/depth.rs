//! One pass over the raw HTML before parsing, for speed and safety:
//! - html5ever's tree builder is quadratic in nesting depth (50,000 nested
//!   `<div>`s take ~12 s), so start tags deeper than [`MAX_DEPTH`] (and their
//!   end tags) are dropped;
//! - scripts (except JSON-LD), styles, inline SVG and comments never carry
//!   article text but are about half the bytes of a news page, so they are
//!   cut out before the parser has to tokenize them.
//!
//! A page with none of these is returned unchanged without copying.

use std::borrow::Cow;

/// Deepest element nesting kept.
pub const MAX_DEPTH: usize = 400;

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen",
];
/// Elements often left unclosed; they do not count towards depth.
const OPTIONAL_END: &[&str] = &[
    "p", "li", "td", "th", "tr", "option", "dt", "dd", "tbody", "thead", "tfoot", "colgroup",
    "html", "head", "body", "optgroup", "rt", "rp",
];
const RAW_TEXT: &[&str] = &[
    "script", "style", "textarea", "title", "xmp", "noembed", "noframes", "iframe",
];

enum Tag {
    Start { name: String, self_closing: bool },
    End { name: String },
    Other,
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = from;
    while i < hay.len() {
        let off = hay[i..].iter().position(|&c| c == first)?;
        i += off;
        let tail = hay.get(i + 1..i + needle.len())?;
        if tail.eq_ignore_ascii_case(rest) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Parse the tag starting at `i` (which is `<`); returns the tag and the
/// index just past it, or `None` if this `<` is literal text.
fn parse_tag(b: &[u8], i: usize) -> Option<(Tag, usize)> {
    let next = *b.get(i + 1)?;
    if next == b'!' {
        if b[i..].starts_with(b"<!--") {
            let end = find(b, i + 4, b"-->").map_or(b.len(), |e| e + 3);
            return Some((Tag::Other, end));
        }
        let end = find(b, i, b">").map_or(b.len(), |e| e + 1);
        return Some((Tag::Other, end));
    }
    if next == b'?' {
        let end = find(b, i, b">").map_or(b.len(), |e| e + 1);
        return Some((Tag::Other, end));
    }
    let (is_end, name_start) = if next == b'/' {
        (true, i + 2)
    } else {
        (false, i + 1)
    };
    if !b.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    let mut j = name_start;
    while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'>' && b[j] != b'/' {
        j += 1;
    }
    let name = String::from_utf8_lossy(&b[name_start..j]).to_ascii_lowercase();
    // Find the closing '>' honouring quoted attribute values.
    let mut quote: Option<u8> = None;
    let mut k = j;
    while k < b.len() {
        let c = b[k];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'"' || c == b'\'' => quote = Some(c),
            None if c == b'>' => break,
            None => {}
        }
        k += 1;
    }
    let self_closing = k > 0 && b.get(k - 1) == Some(&b'/');
    let end = (k + 1).min(b.len());
    Some((
        if is_end {
            Tag::End { name }
        } else {
            Tag::Start { name, self_closing }
        },
        end,
    ))
}

/// Raw-text elements whose whole content is dropped (scripts only when they
/// are not JSON-LD).
fn drops_content(name: &str, tag: &[u8]) -> bool {
    match name {
        "style" => true,
        "script" => !contains_ignore_case(tag, b"ld+json"),
        _ => false,
    }
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Walk the tags; call `on_drop(start, end)` for each range to be dropped
/// (in order, never overlapping).
/// Returns the maximum depth seen.
fn walk(b: &[u8], limit: usize, mut on_drop: impl FnMut(usize, usize)) -> usize {
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    let mut skipped = 0usize;
    let mut i = 0;
    while i < b.len() {
        let Some(off) = b[i..].iter().position(|&c| c == b'<') else {
            break;
        };
        i += off;
        let Some((tag, end)) = parse_tag(b, i) else {
            i += 1;
            continue;
        };
        match tag {
            Tag::Start { name, self_closing } => {
                if RAW_TEXT.contains(&name.as_str()) || name == "svg" {
                    let close = format!("</{name}");
                    let stop = find(b, end, close.as_bytes()).unwrap_or(b.len());
                    if name == "svg" || drops_content(&name, &b[i..end]) {
                        let after = find(b, stop, b">").map_or(b.len(), |e| e + 1);
                        on_drop(i, after);
                        i = after;
                    } else {
                        i = stop.max(end);
                    }
                    continue;
                }
                if !self_closing
                    && !VOID.contains(&name.as_str())
                    && !OPTIONAL_END.contains(&name.as_str())
                {
                    if depth >= limit {
                        skipped += 1;
                        on_drop(i, end);
                    } else {
                        depth += 1;
                        max_depth = max_depth.max(depth);
                    }
                }
            }
            Tag::End { name } => {
                if !VOID.contains(&name.as_str()) && !OPTIONAL_END.contains(&name.as_str()) {
                    if skipped > 0 {
                        skipped -= 1;
                        on_drop(i, end);
                    } else {
                        depth = depth.saturating_sub(1);
                    }
                }
            }
            Tag::Other => {
                if b[i..].starts_with(b"<!--") {
                    on_drop(i, end);
                }
            }
        }
        i = end;
    }
    max_depth
}

/// Return the HTML with element nesting capped at [`MAX_DEPTH`].
pub fn cap_depth(html: &str) -> Cow<'_, str> {
    let b = html.as_bytes();
    let mut drops: Vec<(usize, usize)> = Vec::new();
    walk(b, MAX_DEPTH, |s, e| drops.push((s, e)));
    if drops.is_empty() {
        return Cow::Borrowed(html);
    }
    let mut out = String::with_capacity(html.len());
    let mut pos = 0;
    for (s, e) in drops {
        // Tags start at '<' and end after '>' (ASCII), so these are char boundaries.
        if let (Some(keep), true) = (html.get(pos..s), s >= pos) {
            out.push_str(keep);
        }
        pos = e.max(pos);
    }
    if let Some(rest) = html.get(pos..) {
        out.push_str(rest);
    }
    Cow::Owned(out)
}

/// Maximum element nesting depth of raw HTML (approximate).
pub fn max_depth(html: &str) -> usize {
    walk(html.as_bytes(), usize::MAX, |_, _| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_page_untouched() {
        let html = "<html><body><div><p>a<br>b<img src=x><p>c</div></body></html>";
        assert!(matches!(cap_depth(html), Cow::Borrowed(_)));
        assert_eq!(max_depth(html), 1);
    }

    #[test]
    fn scripts_styles_svg_and_comments_are_cut_but_json_ld_stays() {
        let html = concat!(
            "<head><style>p{color:red}</style>",
            r#"<script type="application/ld+json">{"@type":"NewsArticle"}</script>"#,
            "<script>if (a<b) {'<div>'}</script></head>",
            "<body><!-- a <p>comment</p> --><p>text</p>",
            "<svg viewBox='0 0 1 1'><path d='M0'/></svg><SCRIPT src=x></SCRIPT >",
            "<p>more</p></body>"
        );
        let slim = cap_depth(html);
        assert_eq!(
            slim,
            concat!(
                "<head>",
                r#"<script type="application/ld+json">{"@type":"NewsArticle"}</script>"#,
                "</head><body><p>text</p><p>more</p></body>"
            )
        );
    }

    #[test]
    fn deep_nesting_capped() {
        let html = format!(
            "{}deep{}",
            "<div class='x>y'>".repeat(5000),
            "</div>".repeat(5000)
        );
        let capped = cap_depth(&html);
        assert_eq!(max_depth(&capped), MAX_DEPTH);
        assert!(capped.contains("deep"));
    }

    #[test]
    fn garbage_is_fine() {
        for s in [
            "<",
            "</",
            "<!--",
            "<a",
            "<a '",
            "</>",
            "<<<>>>",
            "<é>",
            "<div/>",
            "<x y=\"é>",
        ] {
            let _ = cap_depth(s);
            let _ = max_depth(s);
        }
    }
}
