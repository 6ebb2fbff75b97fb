//! One pass over the raw HTML before parsing, for speed and safety:
//! - html5ever's tree builder is quadratic in nesting depth (50,000 nested
//!   `<div>`s take ~12 s), so start tags deeper than [`MAX_DEPTH`] (and their
//!   end tags) are dropped;
//! - markup that never carries article text is cut out before the parser has
//!   to tokenize it: scripts (except JSON-LD), styles, inline SVG, iframes
//!   and comments, which are about half the bytes of a news page, and the
//!   `<nav>`, `<aside>` and `<footer>` subtrees, which the text rendering
//!   skips anyway, unless they hold something the metadata pass reads
//!   (an `<h1>`, `<meta>`, `<link>`, `<title>`, JSON-LD, or author, byline
//!   and date attributes);
//! - attributes that no later pass reads (`data-*` payloads other than the
//!   ones site rules and pruning test, event handlers, `aria-*` other than
//!   `aria-hidden`/`aria-modal`, tooltips…) are cut from every element but
//!   images and embedded media, whose attributes Readability searches.
//!
//! A page with none of these is returned unchanged without copying. The scan
//! does not allocate per tag.

use std::borrow::Cow;

use super::attrs::{feeds_metadata, keeps_all_attributes, strip_attributes};
use super::formatting::Formatting;
use super::tags::{Markup, Tag, contains_ignore_case, end_tag, next_gt, next_lt, parse_tag};

/// Deepest element nesting kept.
pub const MAX_DEPTH: usize = 400;

/// What the pass does with an element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Kept; counts towards the depth.
    Nested,
    /// Kept; void or often left unclosed, so it does not count.
    Flat,
    /// Raw text (no markup inside) that is kept.
    RawKeep,
    /// Raw text dropped together with its content.
    RawDrop,
    /// Foreign content dropped up to its first end tag.
    ForeignDrop,
    /// Dropped with all its content up to its matching end tag, unless the
    /// metadata pass may need something inside.
    SubtreeDrop,
}

/// Class of the element named `name` (lower case). `tag` is the whole
/// start tag, for the elements whose attributes decide.
fn classify(name: &[u8], tag: &[u8]) -> Class {
    match name {
        b"script" => {
            if contains_ignore_case(tag, b"ld+json") {
                Class::RawKeep
            } else {
                Class::RawDrop
            }
        }
        b"style" | b"iframe" => Class::RawDrop,
        b"title" | b"textarea" | b"xmp" | b"noembed" | b"noframes" => Class::RawKeep,
        b"svg" => Class::ForeignDrop,
        // Never part of the text (see `text::html_text::Profile`), and a large share of
        // a news page's markup.
        b"nav" | b"aside" | b"footer" => Class::SubtreeDrop,
        // Void elements.
        b"area" | b"base" | b"br" | b"col" | b"embed" | b"hr" | b"img" | b"input" | b"link"
        | b"meta" | b"source" | b"track" | b"wbr" | b"param" | b"keygen"
        // Elements often left unclosed.
        | b"p" | b"li" | b"td" | b"th" | b"tr" | b"option" | b"dt" | b"dd" | b"tbody"
        | b"thead" | b"tfoot" | b"colgroup" | b"html" | b"head" | b"body" | b"optgroup"
        | b"rt" | b"rp" => Class::Flat,
        _ => Class::Nested,
    }
}

/// End (index past the end tag) of the subtree whose start tag is `open`,
/// or `None` when it is not to be dropped: it has no matching end tag, it
/// holds something the metadata pass reads or a JSON-LD script, or the
/// page's scanning `budget` is spent. Each call scans ahead from `open`, so
/// thousands of unclosed `<aside>`s would make the pass quadratic; the budget
/// (bytes, shared by the whole page) keeps it linear, and once it is spent
/// subtrees are simply kept, as they were before this pass cut any.
fn subtree_end(b: &[u8], open: &Tag, budget: &mut usize) -> Option<usize> {
    if *budget == 0 || feeds_metadata(b, open) {
        return None;
    }
    let limit = open.end.saturating_add(*budget).min(b.len());
    let (end, scanned_to) = match_subtree(b, open, limit);
    *budget = budget.saturating_sub(scanned_to.saturating_sub(open.end));
    end
}

/// [`subtree_end`]'s scan, stopping at `limit`; also returns how far it read.
fn match_subtree(b: &[u8], open: &Tag, limit: usize) -> (Option<usize>, usize) {
    let name = open.name();
    let mut level = 1usize;
    let mut i = open.end;
    loop {
        let Some(lt) = next_lt(b, i).filter(|&lt| lt < limit) else {
            return (None, limit.max(i));
        };
        i = lt;
        let tag = match parse_tag(b, i) {
            None => {
                i += 1;
                continue;
            }
            Some(Markup::Comment(end) | Markup::Other(end)) => {
                i = end;
                continue;
            }
            Some(Markup::Tag(tag)) => tag,
        };
        i = tag.end;
        if tag.is_end {
            if tag.name() == name {
                level -= 1;
                if level == 0 {
                    return (Some(tag.end), tag.end);
                }
            }
            continue;
        }
        if feeds_metadata(b, &tag) {
            return (None, i);
        }
        if tag.name() == name && !tag.self_closing {
            level += 1;
        }
        match classify(tag.name(), &b[tag.start..tag.end]) {
            Class::RawKeep if tag.name() == b"script" => return (None, i),
            Class::RawKeep | Class::RawDrop | Class::ForeignDrop => {
                i = end_tag(b, tag.end, tag.name()).max(tag.end);
            }
            _ => {}
        }
    }
}

/// Walk the markup; call `on_drop(start, end)` for each range to be dropped
/// (in order, never overlapping).
/// Returns the maximum depth seen.
fn walk(b: &[u8], limit: usize, mut on_drop: impl FnMut(usize, usize)) -> usize {
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    let mut skipped = 0usize;
    let mut scan_budget = b.len().saturating_mul(2).saturating_add(64 * 1024);
    let mut formatting = Formatting::default();
    let mut i = 0;
    while let Some(lt) = next_lt(b, i) {
        i = lt;
        let tag = match parse_tag(b, i) {
            None => {
                i += 1;
                continue;
            }
            Some(Markup::Comment(end)) => {
                on_drop(i, end);
                i = end;
                continue;
            }
            Some(Markup::Other(end)) => {
                i = end;
                continue;
            }
            Some(Markup::Tag(tag)) => tag,
        };
        i = tag.end;
        if formatting.drop_tag(&tag) {
            on_drop(tag.start, tag.end);
            continue;
        }
        let class = classify(tag.name(), &b[tag.start..tag.end]);
        if tag.is_end {
            if matches!(class, Class::Nested | Class::SubtreeDrop) {
                if skipped > 0 {
                    skipped -= 1;
                    on_drop(tag.start, tag.end);
                } else {
                    depth = depth.saturating_sub(1);
                }
            }
            continue;
        }
        let nested = match class {
            Class::RawKeep => {
                i = end_tag(b, tag.end, tag.name()).max(tag.end);
                continue;
            }
            Class::RawDrop | Class::ForeignDrop => {
                let stop = end_tag(b, tag.end, tag.name());
                i = next_gt(b, stop).map_or(b.len(), |e| e + 1);
                on_drop(tag.start, i);
                continue;
            }
            Class::SubtreeDrop => match subtree_end(b, &tag, &mut scan_budget) {
                Some(after) => {
                    on_drop(tag.start, after);
                    i = after;
                    continue;
                }
                // Kept: an ordinary element.
                None => true,
            },
            Class::Nested => true,
            Class::Flat => false,
        };
        if nested && !tag.self_closing {
            if depth >= limit {
                skipped += 1;
                on_drop(tag.start, tag.end);
                continue;
            }
            depth += 1;
            max_depth = max_depth.max(depth);
        }
        if !keeps_all_attributes(tag.name()) {
            strip_attributes(b, &tag, &mut on_drop);
        }
    }
    max_depth
}

/// Return the HTML with element nesting capped at [`MAX_DEPTH`] and the
/// markup that never carries text cut out.
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
    use super::super::formatting::{FORMATTING, MAX_OPEN_FORMATTING};
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
    fn a_broken_start_tag_does_not_swallow_the_page() {
        // A captured page whose script tag lost its `src` value: browsers
        // read `srcster-border"` as a name and end the tag at its '>'.
        let html = concat!(
            r#"<head><script type="text/javascript" srcster-border">var a = 1;</script>"#,
            r#"</head><body><div id="main"><p class="x">Story text.</p></div></body>"#
        );
        assert_eq!(
            cap_depth(html),
            r#"<head></head><body><div id="main"><p class="x">Story text.</p></div></body>"#
        );
    }

    #[test]
    fn nav_aside_footer_and_iframes_are_cut() {
        let html = concat!(
            "<body><nav class=menu><a href=/>Home</a><nav>Sub</nav></nav>",
            "<p>text</p><iframe src=x><p>fallback</p></iframe>",
            "<aside><p>Related</p><script>var x = '</aside>';</script></aside>",
            "<footer><p>Copyright</p></footer><p>more</p></body>"
        );
        assert_eq!(cap_depth(html), "<body><p>text</p><p>more</p></body>");
    }

    #[test]
    fn subtrees_the_metadata_pass_reads_stay() {
        for inner in [
            "<span class=byline>By A</span>",
            "<a rel=author href=/a>A</a>",
            "<time datetime=2024-01-02>Jan 2</time>",
            "<h1>Title</h1>",
            "<meta itemprop=datePublished content=2024-01-02>",
            r#"<script type="application/ld+json">{}</script>"#,
        ] {
            let html = format!("<body><aside><p>x</p>{inner}</aside><p>text</p></body>");
            assert!(cap_depth(&html).contains(inner), "{inner}");
        }
        let html = "<body><footer class='article-author'>A</footer></body>";
        assert!(cap_depth(html).contains("<footer"));
        // No end tag: not cut.
        let html = "<body><div><nav>menu</div><p>text</p></body>";
        assert!(cap_depth(html).contains("<p>text</p>"));
    }

    #[test]
    fn unused_attributes_are_cut() {
        let html = concat!(
            r#"<div class="a" data-payload='{"x":"<b>"}' id=b onclick="go()" "#,
            r#"aria-label="L" aria-hidden="true" title=T data-component="text-block">"#,
            r#"<a href="/x" target=_blank>link</a>"#,
            r#"<img src="a.jpg" data-src="b.jpg" alt="pic"><br data-x=1/></div>"#
        );
        assert_eq!(
            cap_depth(html),
            concat!(
                r#"<div class="a" id=b aria-hidden="true" data-component="text-block">"#,
                r#"<a href="/x">link</a>"#,
                r#"<img src="a.jpg" data-src="b.jpg" alt="pic"><br></div>"#
            )
        );
    }

    #[test]
    fn the_subtree_scan_budget_is_shared_by_the_page() {
        // Nested unclosed asides: every scan fails; the budget runs out
        // after about twice the page instead of once per aside.
        let page = format!("<body>{}<p>text</p>", "<aside>".repeat(10_000));
        let b = page.as_bytes();
        let mut budget = b.len() * 2;
        let mut scans = 0;
        let mut i = 0;
        while let Some(lt) = next_lt(b, i) {
            if let Some(Markup::Tag(tag)) = parse_tag(b, lt) {
                if tag.name() == b"aside" && budget > 0 {
                    scans += 1;
                    assert_eq!(subtree_end(b, &tag, &mut budget), None);
                }
                i = tag.end;
            } else {
                i = lt + 1;
            }
        }
        assert_eq!(budget, 0);
        assert!(scans < 10, "{scans} scans of the rest of the page");
        // A closed aside costs only its own length.
        let page = "<aside><p>related</p></aside><p>text</p>";
        let b = page.as_bytes();
        let Some(Markup::Tag(tag)) = parse_tag(b, 0) else {
            panic!("a tag")
        };
        let mut budget = 1000;
        assert_eq!(subtree_end(b, &tag, &mut budget), Some(29));
        assert_eq!(budget, 1000 - (29 - tag.end));
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

    /// Formatting start tags minus their end tags in `html`, by the pass's scanner.
    fn unclosed_formatting(html: &str) -> usize {
        let b = html.as_bytes();
        let (mut open, mut i) = (0usize, 0);
        while let Some(lt) = next_lt(b, i) {
            match parse_tag(b, lt) {
                Some(Markup::Tag(tag)) => {
                    if FORMATTING.contains(&tag.name()) {
                        open = if tag.is_end {
                            open.saturating_sub(1)
                        } else {
                            open + 1
                        };
                    }
                    i = tag.end;
                }
                _ => i = lt + 1,
            }
        }
        open
    }

    #[test]
    fn unclosed_formatting_elements_are_capped() {
        // 150 unclosed distinct <b><i> pairs left behind by a closed block,
        // then 8,000 paragraphs: html5ever re-creates all 300 in each one.
        let fmt: String = (0..150)
            .map(|n| format!("<b id=b{n}><i id=i{n}>"))
            .collect();
        let page = format!("<body><div>{fmt}</div>{}", "<p>para text</p>".repeat(8000));
        assert_eq!(unclosed_formatting(&page), 300);
        let capped = cap_depth(&page);
        assert_eq!(unclosed_formatting(&capped), MAX_OPEN_FORMATTING);
        let elements = dom_query::Document::from(capped.as_ref())
            .select("*")
            .length();
        // ~2.4 million elements without the cap.
        assert!(elements < 80_000, "{elements} elements");
        assert_eq!(capped.matches("para text").count(), 8000);
    }

    #[test]
    fn formatting_beyond_the_cap_loses_start_and_end_tags_only() {
        let html = format!("<p>{}x{}</p>", "<b>".repeat(10), "</b>".repeat(10));
        let n = MAX_OPEN_FORMATTING;
        assert_eq!(
            cap_depth(&html),
            format!("<p>{}x{}</p>", "<b>".repeat(n), "</b>".repeat(n))
        );
        // Ordinary formatting, closed as it goes, is untouched.
        let html =
            "<p><a href=/x><b><i>x</i></b></a> and <em>y</em><strong>z</strong></p>".repeat(50);
        assert!(matches!(cap_depth(&html), Cow::Borrowed(_)));
    }

    #[test]
    fn formatting_is_counted_per_table_cell() {
        // Old table layouts leave a <font> open in every cell; the cell's
        // end clears it in the parser, so nothing is dropped.
        let html = format!(
            "<table>{}</table><p>after</p>",
            "<tr><td><font face=arial><b>cell text</td></tr>".repeat(50)
        );
        assert!(matches!(cap_depth(&html), Cow::Borrowed(_)));
        // A stray cell tag outside a table is ignored by the parser, and
        // formatting opened inside a table (not in a cell) stays active
        // after it: neither resets the count.
        let fmt: String = (0..20)
            .map(|n| format!("<b id=b{n}><i id=i{n}><td>"))
            .collect();
        assert_eq!(unclosed_formatting(&cap_depth(&fmt)), MAX_OPEN_FORMATTING);
        let fmt: String = (0..20).map(|n| format!("<b id=b{n}><i id=i{n}>")).collect();
        let html = format!("<div><table>{fmt}</table></div>{fmt}");
        assert_eq!(unclosed_formatting(&cap_depth(&html)), MAX_OPEN_FORMATTING);
        let html = format!("<table><tr><td>{fmt}</td><td>{fmt}</table>{fmt}");
        assert_eq!(
            unclosed_formatting(&cap_depth(&html)),
            3 * MAX_OPEN_FORMATTING
        );
    }

    #[test]
    fn garbage_is_kept_or_shortened_never_grown() {
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
            "<script>",
            "<iframe src='x'",
            "<svg><p>",
            "<verylongtagname>x</verylongtagname>",
        ] {
            // The cap only ever removes markup, and never adds depth.
            let capped = cap_depth(s);
            assert!(capped.len() <= s.len(), "{s:?} grew");
            assert!(max_depth(&capped) <= max_depth(s), "{s:?} got deeper");
            assert!(max_depth(&capped) <= MAX_DEPTH);
        }
    }
}
