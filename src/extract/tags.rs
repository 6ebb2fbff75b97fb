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
    // The closing '>' is found by reading the attributes as the HTML
    // tokenizer does: a quote opens a value only right after `=`. A quote
    // anywhere else (a broken page's `srcster-border">`) is part of a name,
    // and taking it for an opening quote would swallow the rest of the page.
    let mut k = j;
    let k = loop {
        match next_attribute(b, k, b.len()) {
            Ok(attribute) => k = attribute.to,
            Err(gt) => break gt,
        }
    };
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

/// One attribute of a start tag.
pub(crate) struct Attribute {
    /// Index where its reading began (the whitespace before it).
    pub(crate) from: usize,
    pub(crate) name: std::ops::Range<usize>,
    /// Index just past its value (or its name, when it has none).
    pub(crate) to: usize,
}

/// The attribute at or after `i` and before `end`, read as the HTML
/// tokenizer reads it (whitespace and stray `/` skipped; a name runs to
/// whitespace, `/`, `>` or `=`; a value is quoted only when a quote follows
/// the `=`), or `Err` with the index of the tag's `>` (or `end`).
pub(crate) fn next_attribute(b: &[u8], mut i: usize, end: usize) -> Result<Attribute, usize> {
    let from = i;
    while i < end && (b[i].is_ascii_whitespace() || b[i] == b'/') {
        i += 1;
    }
    if i >= end || b[i] == b'>' {
        return Err(i.min(end));
    }
    let name_start = i;
    // The first character belongs to the name whatever it is (even `=`).
    i += 1;
    while i < end && !b[i].is_ascii_whitespace() && !matches!(b[i], b'/' | b'>' | b'=') {
        i += 1;
    }
    let name = name_start..i;
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
            Some(&q) if j < end && (q == b'"' || q == b'\'') => {
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
    Ok(Attribute { from, name, to: i })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_end(html: &str) -> usize {
        match parse_tag(html.as_bytes(), 0) {
            Some(Markup::Tag(tag)) => tag.end,
            _ => panic!("not a tag: {html}"),
        }
    }

    #[test]
    fn quoted_values_may_hold_a_closing_bracket() {
        assert_eq!(tag_end(r#"<a title="x > y" href=z>rest"#), 24);
        assert_eq!(tag_end("<a title='it\"s'>rest"), 16);
    }

    #[test]
    fn a_quote_outside_a_value_opens_nothing() {
        // As browsers read it: `b"c` is a name, the tag ends at the first '>'.
        assert_eq!(
            tag_end(r#"<script type="a" srcster-border">text " more"#),
            33
        );
        assert_eq!(tag_end(r#"<p class=a"b>x"#), 13);
    }

    #[test]
    fn an_unclosed_value_runs_to_the_end() {
        let html = r#"<a href="http://x>never closed"#;
        assert_eq!(tag_end(html), html.len());
    }

    #[test]
    fn attributes_are_read_one_by_one() {
        let b = br#"<img src="a b" alt=c  hidden data-x = 'y'>"#;
        let mut names = Vec::new();
        let mut i = 4;
        let gt = loop {
            match next_attribute(b, i, b.len()) {
                Ok(a) => {
                    names.push(String::from_utf8_lossy(&b[a.name.clone()]).to_string());
                    i = a.to;
                }
                Err(gt) => break gt,
            }
        };
        assert_eq!(names, ["src", "alt", "hidden", "data-x"]);
        assert_eq!(gt, b.len() - 1);
    }
}
