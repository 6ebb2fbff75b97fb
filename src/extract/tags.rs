//! A byte-level HTML tag scanner for the pre-pass ([`super::depth`]): finds
//! tags, comments and end tags without building anything, and does not
//! allocate per tag.

/// Longest tag name that `depth::classify` knows.
pub(crate) const MAX_NAME: usize = 8;

/// A tag found by [`parse_tag`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tag {
    /// Index of the `<`.
    pub(crate) start: usize,
    /// Index just past the tag.
    pub(crate) end: usize,
    /// Index just past the tag name.
    pub(crate) name_end: usize,
    pub(crate) is_end: bool,
    pub(crate) self_closing: bool,
    /// The lower-cased name, when it is at most [`MAX_NAME`] bytes.
    pub(crate) name: [u8; MAX_NAME],
    pub(crate) name_len: usize,
}

impl Tag {
    pub(crate) fn name(&self) -> &[u8] {
        &self.name[..self.name_len]
    }
}

/// What starts at a `<`.
pub(crate) enum Markup {
    Tag(Tag),
    /// A comment, ending at the index given.
    Comment(usize),
    /// A doctype or processing instruction, ending at the index given.
    Other(usize),
}

pub(crate) fn next_lt(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)
        .and_then(|rest| memchr::memchr(b'<', rest))
        .map(|off| from + off)
}

/// Index of the next `needle` (first byte exact, the rest ASCII
/// case-insensitive) at or after `from`.
pub(crate) fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
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
pub(crate) fn parse_tag(b: &[u8], i: usize) -> Option<Markup> {
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

pub(crate) fn next_gt(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)
        .and_then(|rest| memchr::memchr(b'>', rest))
        .map(|off| from + off)
}

pub(crate) fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Index of the `<` of the end tag `</name` at or after `from` (or the end).
pub(crate) fn end_tag(b: &[u8], from: usize, name: &[u8]) -> usize {
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
