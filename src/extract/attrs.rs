//! Which attributes and subtrees the pre-pass ([`super::depth`]) must keep.

use super::tags::{Tag, next_attribute};

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
pub(crate) fn feeds_metadata(b: &[u8], tag: &Tag) -> bool {
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
pub(crate) fn keeps_all_attributes(name: &[u8]) -> bool {
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
pub(crate) fn strip_attributes(b: &[u8], tag: &Tag, on_drop: &mut impl FnMut(usize, usize)) {
    let mut i = tag.name_end;
    while let Ok(attribute) = next_attribute(b, i, tag.end) {
        if unused_attribute(&b[attribute.name.clone()]) {
            on_drop(attribute.from, attribute.to);
        }
        i = attribute.to;
    }
}
