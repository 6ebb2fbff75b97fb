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

/// Deepest element nesting kept.
pub const MAX_DEPTH: usize = 400;

/// Longest tag name that [`classify`] knows.
const MAX_NAME: usize = 8;

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
        // Never part of the text (see `text::SKIP`), and a large share of
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

/// A tag found by [`parse_tag`].
#[derive(Debug, Clone, Copy)]
struct Tag {
    /// Index of the `<`.
    start: usize,
    /// Index just past the tag.
    end: usize,
    /// Index just past the tag name.
    name_end: usize,
    is_end: bool,
    self_closing: bool,
    /// The lower-cased name, when it is at most [`MAX_NAME`] bytes.
    name: [u8; MAX_NAME],
    name_len: usize,
}

impl Tag {
    fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }
}

/// What starts at a `<`.
enum Markup {
    Tag(Tag),
    /// A comment, ending at the index given.
    Comment(usize),
    /// A doctype or processing instruction, ending at the index given.
    Other(usize),
}

fn next_lt(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)
        .and_then(|rest| memchr::memchr(b'<', rest))
        .map(|off| from + off)
}

/// Index of the next `needle` (first byte exact, the rest ASCII
/// case-insensitive) at or after `from`.
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut i = from;
    while i < hay.len() {
        i += memchr::memchr(first, &hay[i..])?;
        let tail = hay.get(i + 1..i + needle.len())?;
        if tail.eq_ignore_ascii_case(rest) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Parse the markup starting at `i` (which is `<`), or `None` if this `<`
/// is literal text.
fn parse_tag(b: &[u8], i: usize) -> Option<Markup> {
    let next = *b.get(i + 1)?;
    if next == b'!' {
        if b[i..].starts_with(b"<!--") {
            let end = find(b, i + 4, b"-->").map_or(b.len(), |e| e + 3);
            return Some(Markup::Comment(end));
        }
        let end = next_gt(b, i).map_or(b.len(), |e| e + 1);
        return Some(Markup::Other(end));
    }
    if next == b'?' {
        let end = next_gt(b, i).map_or(b.len(), |e| e + 1);
        return Some(Markup::Other(end));
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
    let mut name = [0u8; MAX_NAME];
    let raw = &b[name_start..j];
    let name_len = if raw.len() <= MAX_NAME {
        for (d, s) in name.iter_mut().zip(raw) {
            *d = s.to_ascii_lowercase();
        }
        raw.len()
    } else {
        // Longer than any name we know: a name that matches nothing.
        0
    };
    // Find the closing '>' honouring quoted attribute values.
    let mut k = j;
    while k < b.len() {
        match b[k] {
            b'>' => break,
            q @ (b'"' | b'\'') => match memchr::memchr(q, &b[k + 1..]) {
                Some(off) => k += off + 1,
                None => k = b.len(),
            },
            _ => {}
        }
        k += 1;
    }
    let self_closing = k > 0 && b.get(k - 1) == Some(&b'/');
    Some(Markup::Tag(Tag {
        start: i,
        end: (k + 1).min(b.len()),
        name_end: j,
        is_end,
        self_closing,
        name,
        name_len,
    }))
}

fn next_gt(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)
        .and_then(|rest| memchr::memchr(b'>', rest))
        .map(|off| from + off)
}

fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Index of the `<` of the end tag `</name` at or after `from` (or the end).
fn end_tag(b: &[u8], from: usize, name: &[u8]) -> usize {
    let mut i = from;
    while let Some(lt) = find(b, i, b"</") {
        let n = lt + 2;
        if b.get(n..n + name.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(name))
        {
            return lt;
        }
        i = lt + 1;
    }
    b.len()
}

/// Attribute text that the metadata pass's selectors look for
/// (`[rel=author]`, `.byline`, `time[datetime]`, `[itemprop=datePublished]`…).
const METADATA_ATTR_MARKERS: &[&[u8]] = &[
    b"author",
    b"byline",
    b"datetime",
    b"datepublished",
    b"datemodified",
];

/// Whether the metadata pass may read this start tag (its element or its
/// attributes), so that a subtree holding it must be kept.
fn feeds_metadata(b: &[u8], tag: &Tag) -> bool {
    if matches!(tag.name(), b"h1" | b"meta" | b"title" | b"link") {
        return true;
    }
    let attrs = &b[tag.start..tag.end];
    attrs.iter().enumerate().any(|(i, &c)| {
        matches!(c | 0x20, b'a' | b'b' | b'd')
            && METADATA_ATTR_MARKERS.iter().any(|m| {
                attrs
                    .get(i..i + m.len())
                    .is_some_and(|w| w.eq_ignore_ascii_case(m))
            })
    })
}

/// Elements whose attributes all stay: Readability looks through every
/// attribute of images and embedded media for image and video addresses.
fn keeps_all_attributes(name: &[u8]) -> bool {
    matches!(
        name,
        b"img" | b"picture" | b"figure" | b"source" | b"video" | b"audio" | b"embed" | b"object"
    )
}

/// Whether no later pass reads this attribute (its name as written): the
/// extraction reads `class`, `id`, `style`, `hidden`, `role`, `href`,
/// `rel`, `itemprop`, the `<meta>` attributes…, but never event handlers,
/// tooltips or (apart from the ones named in site rules) `data-*` payloads,
/// which can be kilobytes of JSON each.
fn unused_attribute(name: &[u8]) -> bool {
    let starts = |p: &[u8]| name.len() > p.len() && name[..p.len()].eq_ignore_ascii_case(p);
    if starts(b"data-") {
        return !name.eq_ignore_ascii_case(b"data-component")
            && !super::rules::attribute_names()
                .iter()
                .any(|n| name.eq_ignore_ascii_case(n.as_bytes()));
    }
    if starts(b"aria-") {
        return !name.eq_ignore_ascii_case(b"aria-hidden")
            && !name.eq_ignore_ascii_case(b"aria-modal");
    }
    if starts(b"on") {
        return true;
    }
    [
        &b"title"[..],
        b"alt",
        b"srcset",
        b"sizes",
        b"props",
        b"tabindex",
        b"target",
    ]
    .iter()
    .any(|a| name.eq_ignore_ascii_case(a))
}

/// Call `on_drop` for each attribute of the start tag that no later pass
/// reads (with the whitespace before it).
fn strip_attributes(b: &[u8], tag: &Tag, on_drop: &mut impl FnMut(usize, usize)) {
    let end = tag.end;
    let mut i = tag.name_end;
    loop {
        let from = i;
        while i < end && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= end || b[i] == b'>' {
            return;
        }
        let name_start = i;
        i += 1;
        while i < end && !b[i].is_ascii_whitespace() && !matches!(b[i], b'/' | b'>' | b'=') {
            i += 1;
        }
        let name = &b[name_start..i];
        let mut j = i;
        while j < end && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if j < end && b[j] == b'=' {
            j += 1;
            while j < end && b[j].is_ascii_whitespace() {
                j += 1;
            }
            match b.get(j) {
                Some(&q) if q == b'"' || q == b'\'' => {
                    let value = j + 1;
                    j = memchr::memchr(q, &b[value..end]).map_or(end, |off| value + off + 1);
                }
                _ => {
                    while j < end && !b[j].is_ascii_whitespace() && b[j] != b'>' {
                        j += 1;
                    }
                }
            }
            i = j;
        }
        if unused_attribute(name) {
            on_drop(from, i);
        }
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
            "<script>",
            "<iframe src='x'",
            "<svg><p>",
            "<verylongtagname>x</verylongtagname>",
        ] {
            let _ = cap_depth(s);
            let _ = max_depth(s);
        }
    }
}
