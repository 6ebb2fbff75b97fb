//! Byte-level clean-up before feed-rs sees a document: charset detection and
//! transcoding to UTF-8, removal of junk before the XML declaration, fixing
//! the RSS `version` attribute, HTML detection and repair of truncated XML.

use crate::schedule::SkipSchedule;
use encoding_rs::{Encoding, UTF_8};

/// What kind of document the body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Xml,
    Json,
}

/// A body transcoded to UTF-8 and ready for feed-rs.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub text: String,
    pub kind: DocKind,
    /// The document was RSS 0.90 (RDF with the Netscape namespace, rewritten to RSS 1.0's).
    pub rss090: bool,
    /// Why a JSON document is not even a JSON object (syntax error, array...).
    pub invalid_json: Option<String>,
}

/// Extract `charset=...` from a Content-Type header value.
pub fn charset_from_content_type(ct: &str) -> Option<&str> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("charset") {
            let v = v.trim().trim_matches(['"', '\'']).trim();
            (!v.is_empty()).then_some(v)
        } else {
            None
        }
    })
}

/// Decode UTF-32 (not supported by encoding_rs) by hand.
fn decode_utf32(bytes: &[u8], big_endian: bool) -> String {
    bytes
        .chunks_exact(4)
        .map(|c| {
            let v = if big_endian {
                u32::from_be_bytes([c[0], c[1], c[2], c[3]])
            } else {
                u32::from_le_bytes([c[0], c[1], c[2], c[3]])
            };
            char::from_u32(v).unwrap_or('\u{FFFD}')
        })
        .collect()
}

/// Decode with a BOM or a UTF-16/32 byte pattern, if there is one.
fn decode_by_bom_or_pattern(bytes: &[u8]) -> Option<(String, &'static str)> {
    match bytes {
        [0x00, 0x00, 0xFE, 0xFF, rest @ ..] => Some((decode_utf32(rest, true), "UTF-32BE")),
        [0xFF, 0xFE, 0x00, 0x00, rest @ ..] => Some((decode_utf32(rest, false), "UTF-32LE")),
        [0x00, 0x00, 0x00, 0x3C, ..] => Some((decode_utf32(bytes, true), "UTF-32BE")),
        [0x3C, 0x00, 0x00, 0x00, ..] => Some((decode_utf32(bytes, false), "UTF-32LE")),
        _ => {
            if let Some((enc, bom_len)) = Encoding::for_bom(bytes) {
                let (text, _) = enc.decode_without_bom_handling(&bytes[bom_len..]);
                return Some((text.into_owned(), enc.name()));
            }
            // UTF-16 without BOM: "<" followed/preceded by NUL.
            match bytes {
                [0x00, 0x3C, 0x00, _, ..] => {
                    let (t, _) = encoding_rs::UTF_16BE.decode_without_bom_handling(bytes);
                    Some((t.into_owned(), "UTF-16BE"))
                }
                [0x3C, 0x00, _, 0x00, ..] => {
                    let (t, _) = encoding_rs::UTF_16LE.decode_without_bom_handling(bytes);
                    Some((t.into_owned(), "UTF-16LE"))
                }
                _ => None,
            }
        }
    }
}

/// The `encoding="..."` value of an XML declaration at the start of `head` (ASCII view).
fn declared_encoding(head: &[u8]) -> Option<String> {
    let start = skip_junk(head);
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.iter().position(|&b| b == b'>')?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let idx = decl.find("encoding")?;
    let rest = decl[idx + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next()?;
    if quote != '"' && quote != '\'' {
        return None;
    }
    let inner = &rest[1..];
    let close = inner.find(quote)?;
    Some(inner[..close].trim().to_string())
}

/// Bytes of whitespace, BOMs and NULs before the first markup/JSON byte.
fn skip_junk(bytes: &[u8]) -> usize {
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(&[0xEF, 0xBB, 0xBF]) {
            i += 3;
        } else if bytes[i].is_ascii_whitespace() || bytes[i] == 0 {
            i += 1;
        } else {
            break;
        }
    }
    i
}

/// Decode `bytes` with `enc`, returning `None` if the bytes are not valid in it.
fn decode_strict(enc: &'static Encoding, bytes: &[u8]) -> Option<String> {
    enc.decode_without_bom_handling_and_without_replacement(bytes)
        .map(|c| c.into_owned())
}

/// Work out the real encoding and decode to a UTF-8 `String`.
///
/// Order: BOM / UTF-16/32 pattern; bytes that are valid UTF-8 are UTF-8 (a
/// legacy declaration on valid multi-byte UTF-8 is wrong); otherwise the XML
/// declaration, then the Content-Type charset, if they decode cleanly;
/// otherwise chardetng's guess.
pub fn decode_body(bytes: &[u8], content_type: Option<&str>) -> (String, &'static str) {
    if let Some(done) = decode_by_bom_or_pattern(bytes) {
        return done;
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (s.to_string(), "UTF-8");
    }
    let head = &bytes[..bytes.len().min(1024)];
    let mut candidates: Vec<&'static Encoding> = Vec::new();
    if let Some(label) = declared_encoding(head)
        && let Some(enc) = Encoding::for_label(label.as_bytes())
    {
        candidates.push(enc);
    }
    if let Some(cs) = content_type.and_then(charset_from_content_type)
        && let Some(enc) = Encoding::for_label(cs.as_bytes())
    {
        candidates.push(enc);
    }
    for enc in candidates {
        // UTF-8 already failed; UTF-16 labels on ASCII-looking bytes are lies.
        if enc == UTF_8 || enc == encoding_rs::UTF_16BE || enc == encoding_rs::UTF_16LE {
            continue;
        }
        if let Some(s) = decode_strict(enc, bytes) {
            return (s, enc.name());
        }
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes, true);
    let enc = det.guess(None, true);
    let (text, _, _) = enc.decode(bytes);
    (text.into_owned(), enc.name())
}

/// Rewrites the XML declaration at the start to a plain `<?xml
/// version="1.0"?>` (the text is UTF-8 now, XML's default) and removes any
/// other one: feed-rs switches quick-xml's decoder for each declaration that
/// names an encoding, and quick-xml panics when that happens past the start
/// of the document (found by fuzzing). Removed wherever it stands, in
/// comments and CDATA too: where quick-xml sees markup in a broken document
/// is not worth second-guessing.
fn strip_declared_encoding(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(off) = text[i..].find("<?xml") {
        i += off;
        let rest = &text[i..];
        // What quick-xml reads as a declaration: `<?xml?>` or `<?xml ...?>`.
        if !rest[5..].starts_with(|c: char| c.is_whitespace() || c == '?') {
            i += 5;
            continue;
        }
        let end = rest.find("?>").map_or(text.len(), |e| i + e + 2);
        out.push_str(&text[copied..i]);
        if i == 0 {
            out.push_str("<?xml version=\"1.0\"?>");
        }
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// Transcode and clean the body. Errors are plain messages for `NotAFeed`.
pub fn prepare(body: &[u8], content_type: Option<&str>) -> Result<Prepared, String> {
    let (text, _encoding) = decode_body(body, content_type);
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{FEFF}' || c == '\0');
    if text.is_empty() {
        return Err("empty document".into());
    }
    let kind = match text.as_bytes().first() {
        Some(b'{') => DocKind::Json,
        Some(b'<') => DocKind::Xml,
        _ => return Err("document is neither XML nor JSON".into()),
    };
    let mut rss090 = false;
    let mut invalid_json = None;
    let text = match kind {
        DocKind::Json => match normalize_json_feed(text) {
            Ok(normalized) => normalized,
            Err(e) => {
                // Not handed to feed-rs, which would read all of it first.
                invalid_json = Some(e);
                text.to_string()
            }
        },
        DocKind::Xml => {
            let mut t = strip_declared_encoding(text);
            if let Some(root) = root_element_name(&t)
                && root.eq_ignore_ascii_case("html")
            {
                // Some sites wrap the feed in an XHTML page; otherwise it is an error page.
                t = extract_embedded_feed(&t)
                    .ok_or_else(|| "an HTML page, not a feed".to_string())?;
            }
            if let Some(fixed) = rewrite_atom03(&t) {
                t = fixed;
            }
            if let Some(fixed) = rewrite_rss090_namespace(&t) {
                rss090 = true;
                t = fixed;
            }
            if let Some(capped) = cap_elements(&t, MAX_ITEMS, MAX_ELEMENTS) {
                t = capped;
            }
            fix_rss_version(&t)
        }
    };
    Ok(Prepared {
        text,
        kind,
        rss090,
        invalid_json,
    })
}

/// Byte offset just past the markup construct starting at `i` (`<!--`, `<?`, `<![CDATA[`, `<!DOCTYPE`), if it is one.
fn skip_special(s: &str, i: usize) -> Option<usize> {
    let rest = &s[i..];
    let (close, open_len) = if rest.starts_with("<!--") {
        ("-->", 4)
    } else if rest.starts_with("<![CDATA[") {
        ("]]>", 9)
    } else if rest.starts_with("<?") {
        ("?>", 2)
    } else if rest.starts_with("<!") {
        // DOCTYPE, possibly with an internal subset
        let mut depth = 0i32;
        for (j, c) in rest.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                '>' if depth <= 0 => return Some(i + j + 1),
                _ => {}
            }
        }
        return Some(s.len());
    } else {
        return None;
    };
    Some(
        rest[open_len..]
            .find(close)
            .map_or(s.len(), |j| i + open_len + j + close.len()),
    )
}

/// Name (with prefix) of the first element, skipping prolog constructs.
pub fn root_element_name(s: &str) -> Option<&str> {
    let mut i = 0;
    while let Some(off) = s[i..].find('<') {
        i += off;
        if let Some(next) = skip_special(s, i) {
            i = next;
            continue;
        }
        let name_start = i + 1;
        let name_len = s[name_start..]
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(s.len() - name_start);
        return Some(&s[name_start..name_start + name_len]);
    }
    None
}

/// The `version` attribute of the `<rss>` root, when the root is `rss`.
pub fn rss_version(s: &str) -> Option<String> {
    let (_, tag) = root_start_tag(s)?;
    if root_element_name(s)? != "rss" {
        return None;
    }
    attr_value(tag, "version")
}

/// The root start tag: (byte offset, text of the tag including `<` and `>`).
fn root_start_tag(s: &str) -> Option<(usize, &str)> {
    let mut i = 0;
    while let Some(off) = s[i..].find('<') {
        i += off;
        if let Some(next) = skip_special(s, i) {
            i = next;
            continue;
        }
        let end = s[i..].find('>').map_or(s.len(), |j| i + j + 1);
        return Some((i, &s[i..end]));
    }
    None
}

fn attr_value(tag: &str, name: &str) -> Option<String> {
    let mut search = 0;
    while let Some(off) = tag[search..].find(name) {
        let idx = search + off;
        search = idx + name.len();
        let before_ok = tag[..idx].ends_with(char::is_whitespace);
        let rest = tag[idx + name.len()..].trim_start();
        if !before_ok {
            continue;
        }
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let inner = &rest[1..];
        let close = inner.find(q)?;
        return Some(inner[..close].to_string());
    }
    None
}

/// feed-rs only accepts `<rss version="2.0|0.91|0.92|">`; anything else (missing,
/// `0.93`, `0.94`, `2.00`, ...) is rewritten to 2.0, whose parser is a superset.
fn fix_rss_version(s: &str) -> String {
    let Some((start, tag)) = root_start_tag(s) else {
        return s.to_string();
    };
    if root_element_name(s) != Some("rss") {
        return s.to_string();
    }
    let version = attr_value(tag, "version");
    if matches!(version.as_deref(), Some("2.0" | "0.91" | "0.92" | "")) {
        return s.to_string();
    }
    let mut new_tag = String::new();
    if let Some(v) = version {
        // replace the value in place
        for q in ['"', '\''] {
            let needle = format!("version={q}{v}{q}");
            if tag.contains(&needle) {
                new_tag = tag.replacen(&needle, "version=\"2.0\"", 1);
                break;
            }
        }
        if new_tag.is_empty() {
            return s.to_string();
        }
    } else {
        new_tag = tag.replacen("<rss", "<rss version=\"2.0\"", 1);
    }
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..start]);
    out.push_str(&new_tag);
    out.push_str(&s[start + tag.len()..]);
    out
}

/// The elements left open while scanning a document, with each name's
/// positions in the stack, so an end tag finds its start tag in O(1) instead
/// of searching the whole stack: a run of end tags that match nothing (80,000
/// `<a>` then 80,000 `</b>`, 560 KB) made the search quadratic, over a minute.
/// Every element is pushed and popped at most once: linear in the document.
#[derive(Default)]
struct OpenElements<'a> {
    names: Vec<&'a str>,
    positions: std::collections::HashMap<&'a str, Vec<usize>>,
}

impl<'a> OpenElements<'a> {
    fn open(&mut self, name: &'a str) {
        self.positions
            .entry(name)
            .or_default()
            .push(self.names.len());
        self.names.push(name);
    }

    /// Closes the innermost open `name` and everything opened inside it; an
    /// end tag that matches no open element is ignored.
    fn close(&mut self, name: &str) {
        let Some(&at) = self.positions.get(name).and_then(|p| p.last()) else {
            return;
        };
        for closed in self.names.drain(at..) {
            // Each name's positions are ascending, so the ones being closed
            // are at the end of its list.
            if let Some(p) = self.positions.get_mut(closed) {
                p.pop();
            }
        }
    }
}

/// Repair a truncated or broken XML feed: keep everything up to the end of the
/// last complete `item`/`entry` (or, with none, up to the first one), then close
/// every element still open. Returns `None` when there is nothing to repair.
pub fn repair_truncated(s: &str) -> Option<String> {
    let last_close = ["</item>", "</entry>", "</rss:item>", "</atom:entry>"]
        .iter()
        .filter_map(|t| s.rfind(t).map(|i| i + t.len()))
        .max();
    let cut = match last_close {
        Some(c) => c,
        None => {
            let first_open = ["<item>", "<item ", "<entry>", "<entry "]
                .iter()
                .filter_map(|t| s.find(t))
                .min();
            match first_open {
                Some(o) => o,
                None => s.rfind('>').map_or(s.len(), |i| i + 1),
            }
        }
    };
    let out = close_open_elements(&s[..cut]);
    (out != s).then_some(out)
}

/// `prefix` followed by the end tags of every element it leaves open.
fn close_open_elements(prefix: &str) -> String {
    let mut stack = OpenElements::default();
    let mut i = 0;
    while let Some(off) = prefix[i..].find('<') {
        i += off;
        if let Some(next) = skip_special(prefix, i) {
            if next > prefix.len() {
                break;
            }
            i = next;
            continue;
        }
        let Some(end_rel) = prefix[i..].find('>') else {
            break;
        };
        let end = i + end_rel;
        let tag = &prefix[i + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            stack.close(name.trim());
        } else if !tag.ends_with('/') {
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or("");
            if !name.is_empty() {
                stack.open(name);
            }
        }
        i = end + 1;
    }
    let mut out = String::with_capacity(prefix.len() + 64);
    out.push_str(prefix);
    for name in stack.names.iter().rev() {
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out
}

/// Most items a feed document yields; the rest of a longer one is cut.
pub const MAX_ITEMS: usize = 10_000;
/// Most elements a feed document may have before the rest is cut. feed-rs
/// builds a struct of 50–500 bytes for each element it knows, so 10 MB of
/// `<item/>` (1.4 million items) took 1.1 GB; real feeds of that size have
/// far fewer, longer elements.
pub const MAX_ELEMENTS: usize = 200_000;

/// Cuts an XML feed before its item number `max_items + 1`, or before the
/// item (or, outside items, the element) at which it passes `max_elements`
/// elements, and closes what is open, so that what feed-rs builds is bounded
/// by the limits and not by how small each element can be written. Markup
/// in CDATA and comments does not count. `None` when within the limits.
pub fn cap_elements(s: &str, max_items: usize, max_elements: usize) -> Option<String> {
    let mut elements = 0usize;
    let mut items = 0usize;
    // Start of the item being read, while inside one.
    let mut item_start: Option<usize> = None;
    let mut i = 0;
    let cut = loop {
        let off = s[i..].find('<')?;
        i += off;
        if let Some(next) = skip_special(s, i) {
            i = next;
            continue;
        }
        let (tag_end, end) = match s[i..].find('>') {
            Some(j) => (i + j, i + j + 1),
            None => (s.len(), s.len()),
        };
        let tag = &s[i + 1..tag_end];
        let (is_end, rest) = match tag.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let name = rest
            .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .next()
            .unwrap_or("");
        let (prefix, local) = name.rsplit_once(':').unwrap_or(("", name));
        let is_item = matches!(local, "item" | "entry")
            && (prefix.is_empty() || prefix == "rss" || prefix == "atom");
        if is_end {
            if is_item {
                item_start = None;
            }
        } else if !name.is_empty() {
            elements += 1;
            if is_item {
                items += 1;
                if items > max_items {
                    break i;
                }
                item_start = (!tag.ends_with('/')).then_some(i);
            }
            if elements > max_elements {
                break item_start.unwrap_or(i);
            }
        }
        i = end;
    };
    Some(close_open_elements(&s[..cut]))
}

/// Reading a JSON Feed within [`MAX_ITEMS`] items and [`MAX_ELEMENTS`]
/// values: a `serde_json::Value` costs 30–100 bytes for each value however
/// short it is written, and feed-rs about as much again, so 11 MB of
/// `{"id":"1"}` items took 1.5 GB. The first items that fit are kept; a
/// top-level member other than `items` that does not fit is dropped.
mod bounded_json {
    use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
    use serde_json::{Map, Value};
    use std::cell::Cell;
    use std::fmt;

    /// Parses `text` as a JSON object within the limits.
    pub fn parse(text: &str, max_items: usize, max_values: usize) -> Result<Value, String> {
        let left = Cell::new(max_values);
        let mut de = serde_json::Deserializer::from_str(text);
        let root = de
            .deserialize_map(Root {
                left: &left,
                max_items,
            })
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(root)
    }

    fn skip_rest<'de, A: SeqAccess<'de>>(seq: &mut A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }

    struct Root<'a> {
        left: &'a Cell<usize>,
        max_items: usize,
    }

    impl<'de> Visitor<'de> for Root<'_> {
        type Value = Value;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = Map::new();
            while let Some(key) = map.next_key::<String>()? {
                // What a member that does not fit had used goes back to the
                // budget: it is dropped whole.
                let before = self.left.get();
                let value = if key == "items" {
                    map.next_value_seed(Items {
                        left: self.left,
                        max_items: self.max_items,
                    })?
                } else {
                    map.next_value_seed(Bounded(self.left))?
                };
                match value {
                    Some(value) => {
                        out.insert(key, value);
                    }
                    None => self.left.set(before),
                }
            }
            Ok(Value::Object(out))
        }
    }

    /// The `items` array: complete items while they fit, the rest skipped.
    struct Items<'a> {
        left: &'a Cell<usize>,
        max_items: usize,
    }

    impl<'de> DeserializeSeed<'de> for Items<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Items<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of items")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
            let mut items = Vec::new();
            while items.len() < self.max_items {
                let before = self.left.get();
                match seq.next_element_seed(Bounded(self.left))? {
                    Some(Some(item)) => items.push(item),
                    Some(None) => {
                        self.left.set(before);
                        break;
                    }
                    None => return Ok(Some(Value::Array(items))),
                }
            }
            skip_rest(&mut seq)?;
            Ok(Some(Value::Array(items)))
        }
        // Not an array: kept as it is (within the budget), for feed-rs to refuse.
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_bool(v)
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_i64(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_u64(v)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_f64(v)
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_str(v)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
            Bounded(self.left).visit_unit()
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Option<Value>, A::Error> {
            Bounded(self.left).visit_map(map)
        }
    }

    /// Any value, or `None` (and the rest of it skipped) once the budget of
    /// values is spent.
    #[derive(Clone, Copy)]
    struct Bounded<'a>(&'a Cell<usize>);

    impl Bounded<'_> {
        fn take(self) -> bool {
            let left = self.0.get();
            self.0.set(left.saturating_sub(1));
            left > 0
        }
        fn scalar<E>(self, v: impl FnOnce() -> Value) -> Result<Option<Value>, E> {
            Ok(self.take().then(v))
        }
    }

    impl<'de> DeserializeSeed<'de> for Bounded<'_> {
        type Value = Option<Value>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Bounded<'_> {
        type Value = Option<Value>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Option<Value>, E> {
            self.scalar(|| Value::Bool(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<Value>, E> {
            self.scalar(|| Value::from(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<Value>, E> {
            self.scalar(|| Value::from(v))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Option<Value>, E> {
            self.scalar(|| Value::from(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<Value>, E> {
            self.scalar(|| Value::String(v.to_string()))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Option<Value>, E> {
            self.scalar(|| Value::String(v))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
            self.scalar(|| Value::Null)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Option<Value>, E> {
            self.scalar(|| Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
            if !self.take() {
                skip_rest(&mut seq)?;
                return Ok(None);
            }
            let mut out = Vec::new();
            while let Some(value) = seq.next_element_seed(self)? {
                match value {
                    Some(value) => out.push(value),
                    None => {
                        skip_rest(&mut seq)?;
                        return Ok(None);
                    }
                }
            }
            Ok(Some(Value::Array(out)))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
            let mut out = self.take().then(Map::new);
            while let Some(key) = map.next_key::<String>()? {
                match out.as_mut() {
                    Some(members) => match map.next_value_seed(self)? {
                        Some(value) => {
                            members.insert(key, value);
                        }
                        None => out = None,
                    },
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(out.map(Value::Object))
        }
    }
}

/// Coerce a JSON Feed into the exact shapes feed-rs deserialises: `http://`
/// version URLs, numeric ids, comma-separated `tags` strings, string authors,
/// missing titles, attachments without required fields; at most
/// [`MAX_ITEMS`] items and [`MAX_ELEMENTS`] values are read. An error when
/// the text is not a JSON object; a document without a `version` string is
/// returned as read, for feed-rs to refuse.
pub fn normalize_json_feed(text: &str) -> Result<String, String> {
    use serde_json::{Map, Value};
    let mut root = bounded_json::parse(text, MAX_ITEMS, MAX_ELEMENTS)?;
    let obj = root
        .as_object_mut()
        .expect("bounded_json::parse returns an object");

    fn coerce_string(map: &mut Map<String, Value>, key: &str) {
        let replacement = match map.get(key) {
            None | Some(Value::String(_)) => return,
            Some(Value::Number(n)) => Some(Value::String(n.to_string())),
            Some(Value::Bool(b)) => Some(Value::String(b.to_string())),
            Some(_) => None,
        };
        match replacement {
            Some(v) => {
                map.insert(key.to_string(), v);
            }
            None => {
                map.remove(key);
            }
        }
    }
    fn fix_author(v: &mut Value) -> bool {
        match v {
            Value::String(s) => {
                let name = std::mem::take(s);
                *v = serde_json::json!({ "name": name });
                true
            }
            Value::Object(m) => {
                coerce_string(m, "name");
                coerce_string(m, "url");
                true
            }
            _ => false,
        }
    }
    fn fix_authors(map: &mut Map<String, Value>) {
        if let Some(a) = map.get_mut("author")
            && !fix_author(a)
        {
            map.remove("author");
        }
        match map.get_mut("authors") {
            Some(Value::Array(list)) => list.retain_mut(fix_author),
            Some(_) => {
                map.remove("authors");
            }
            None => {}
        }
    }

    if let Some(Value::String(v)) = obj.get_mut("version") {
        if let Some(rest) = v.strip_prefix("http://jsonfeed.org/") {
            *v = format!("https://jsonfeed.org/{rest}");
        }
    } else {
        return serde_json::to_string(&root).map_err(|e| e.to_string());
    }
    for key in [
        "title",
        "home_page_url",
        "feed_url",
        "language",
        "description",
        "icon",
        "favicon",
    ] {
        coerce_string(obj, key);
    }
    if !obj.contains_key("title") {
        obj.insert("title".into(), Value::String(String::new()));
    }
    fix_authors(obj);
    if let Some(Value::Array(items)) = obj.get_mut("items") {
        items.retain(Value::is_object);
        for item in items.iter_mut() {
            let Some(m) = item.as_object_mut() else {
                continue;
            };
            for key in [
                "id",
                "url",
                "external_url",
                "title",
                "content_html",
                "content_text",
                "summary",
                "date_published",
                "date_modified",
            ] {
                coerce_string(m, key);
            }
            fix_authors(m);
            let tags = match m.get("tags") {
                Some(Value::String(s)) => Some(
                    s.split(',')
                        .map(|t| Value::String(t.trim().to_string()))
                        .filter(|t| t.as_str() != Some(""))
                        .collect(),
                ),
                Some(Value::Array(list)) => Some(
                    list.iter()
                        .filter_map(|t| match t {
                            Value::String(s) => Some(Value::String(s.clone())),
                            Value::Number(n) => Some(Value::String(n.to_string())),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                Some(_) => Some(Vec::new()),
                None => None,
            };
            if let Some(tags) = tags {
                m.insert("tags".into(), Value::Array(tags));
            }
            if let Some(Value::Array(atts)) = m.get_mut("attachments") {
                atts.retain_mut(|a| {
                    let Some(am) = a.as_object_mut() else {
                        return false;
                    };
                    coerce_string(am, "url");
                    coerce_string(am, "mime_type");
                    coerce_string(am, "title");
                    if !am.get("size_in_bytes").is_some_and(Value::is_u64) {
                        am.remove("size_in_bytes");
                    }
                    am.get("url").is_some() && am.get("mime_type").is_some()
                });
            } else {
                m.remove("attachments");
            }
        }
    }
    serde_json::to_string(&root).map_err(|e| e.to_string())
}

/// A feed (`<feed>`, `<rss>`, `<rdf:RDF>`) embedded in an HTML/XHTML page, if any.
pub fn extract_embedded_feed(s: &str) -> Option<String> {
    for (open, close) in [
        ("<feed", "</feed>"),
        ("<rss", "</rss>"),
        ("<rdf:RDF", "</rdf:RDF>"),
    ] {
        // Looked up once: searching from the end for every candidate start
        // tag made a page of many `<feed ` after a `</feed>` quadratic.
        let end = s.rfind(close).map_or(s.len(), |e| e + close.len());
        let mut from = 0;
        while let Some(off) = s[from..end].find(open) {
            let start = from + off;
            from = start + open.len();
            if !s[from..].starts_with(|c: char| c.is_whitespace() || c == '>') {
                continue;
            }
            return Some(s[start..end].to_string());
        }
    }
    None
}

/// Rewrite the Atom 0.3 namespace to Atom 1.0's, and its `issued`/`modified`
/// dates to `published`/`updated`, so feed-rs reads the entries.
pub fn rewrite_atom03(s: &str) -> Option<String> {
    const ATOM03: &str = "http://purl.org/atom/ns#";
    if !s.contains(ATOM03) {
        return None;
    }
    Some(
        s.replace(ATOM03, "http://www.w3.org/2005/Atom")
            .replace("<issued>", "<published>")
            .replace("</issued>", "</published>")
            .replace("<modified>", "<updated>")
            .replace("</modified>", "</updated>")
            .replace("type=\"application/xhtml+xml\"", "type=\"xhtml\""),
    )
}

/// Rewrite the RSS 0.90 namespace (which feed-rs does not know) to RSS 1.0's.
pub fn rewrite_rss090_namespace(s: &str) -> Option<String> {
    const RSS090: &str = "http://my.netscape.com/rdf/simple/0.9/";
    s.contains(RSS090)
        .then(|| s.replace(RSS090, "http://purl.org/rss/1.0/"))
}

/// Escape `&` that does not start a character or entity reference, and
/// normalise `&#X..;` (upper-case hex marker) to `&#x..;`.
pub fn escape_stray_ampersands(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 16);
    let mut changed = false;
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let len = after.bytes().take(32).position(|b| b == b';');
        let valid = len.is_some_and(|l| {
            let name = &after[..l];
            if let Some(hex) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
            } else if let Some(dec) = name.strip_prefix('#') {
                !dec.is_empty() && dec.bytes().all(|b| b.is_ascii_digit())
            } else {
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric())
            }
        });
        if !valid {
            out.push_str("&amp;");
            changed = true;
        } else if let Some(stripped) = after.strip_prefix("#X") {
            out.push_str("&#x");
            rest = stripped;
            changed = true;
            continue;
        } else {
            out.push('&');
        }
        rest = after;
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// Replace `type="<mime>"` attributes that feed-rs rejects with `type="html"`.
pub fn relax_content_type(s: &str, mime: &str) -> Option<String> {
    let mut out = s.to_string();
    let relaxed = if mime.contains("xml") {
        "type=\"xhtml\""
    } else {
        "type=\"html\""
    };
    for q in ['"', '\''] {
        let needle = format!("type={q}{mime}{q}");
        out = out.replace(&needle, relaxed);
    }
    (out != s).then_some(out)
}

/// RSS `<skipHours>` and `<skipDays>` (feed-rs does not read them).
pub fn scan_skip_schedule(s: &str) -> SkipSchedule {
    let mut skip = SkipSchedule::default();
    for hour in element_texts(block(s, "skipHours"), "hour") {
        // Some feeds write 24 for midnight.
        if let Ok(hour @ 0..=24) = hour.trim().parse::<u32>() {
            skip.hours |= 1 << (hour % 24);
        }
    }
    for day in element_texts(block(s, "skipDays"), "day") {
        if let Ok(day) = day.trim().parse::<chrono::Weekday>() {
            skip.days |= 1 << day.num_days_from_monday();
        }
    }
    skip
}

/// The text between `<name>` and `</name>` (first occurrence), or "".
fn block<'a>(s: &'a str, name: &str) -> &'a str {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    s.find(&open)
        .map(|start| &s[start + open.len()..])
        .and_then(|rest| rest.find(&close).map(|end| &rest[..end]))
        .unwrap_or("")
}

/// The texts of every `<name>...</name>` in `s`.
fn element_texts<'a>(s: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(&rest[..end]);
        rest = &rest[end + close.len()..];
    }
    out
}

/// Per item/entry (in document order), the URL of its first `media:thumbnail`,
/// or failing that of a `media:content medium="image"`. feed-rs drops
/// thumbnails that are not accompanied by `media:content`, so we scan for them.
pub fn scan_item_images(s: &str) -> Vec<Option<String>> {
    let mut out: Vec<Option<String>> = Vec::new();
    let mut fallback: Vec<Option<String>> = Vec::new();
    let mut i = 0;
    while let Some(off) = s[i..].find('<') {
        i += off;
        if let Some(next) = skip_special(s, i) {
            i = next;
            continue;
        }
        let end = s[i..].find('>').map_or(s.len(), |j| i + j + 1);
        let tag = &s[i..end];
        i = end;
        if tag.starts_with("</") {
            continue;
        }
        let name = tag[1..]
            .split(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .next()
            .unwrap_or("");
        let (prefix, local) = name.rsplit_once(':').unwrap_or(("", name));
        match local {
            "item" | "entry" if prefix.is_empty() || prefix == "rss" || prefix == "atom" => {
                out.push(None);
                fallback.push(None);
            }
            "thumbnail" if prefix == "media" => {
                if let (Some(slot @ None), Some(url)) = (out.last_mut(), attr_value(tag, "url")) {
                    *slot = Some(url.trim().to_string());
                }
            }
            "content" if prefix == "media" => {
                let is_image = attr_value(tag, "medium")
                    .is_some_and(|m| m.eq_ignore_ascii_case("image"))
                    || attr_value(tag, "type")
                        .is_some_and(|t| t.to_ascii_lowercase().starts_with("image/"));
                if is_image
                    && let (Some(slot @ None), Some(url)) =
                        (fallback.last_mut(), attr_value(tag, "url"))
                {
                    *slot = Some(url.trim().to_string());
                }
            }
            _ => {}
        }
    }
    out.into_iter()
        .zip(fallback)
        .map(|(a, b)| a.or(b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_charset() {
        assert_eq!(
            charset_from_content_type("text/xml; charset=\"ISO-8859-1\""),
            Some("ISO-8859-1")
        );
        assert_eq!(charset_from_content_type("text/xml"), None);
    }

    #[test]
    fn declared_utf8_but_latin1() {
        let mut body =
            b"<?xml version=\"1.0\" encoding=\"utf-8\"?><rss><channel><title>Not".to_vec();
        body.push(0xED); // í in ISO-8859-1
        body.extend_from_slice(b"cias</title></channel></rss>");
        let p = prepare(&body, None).expect("prepared");
        assert!(p.text.contains("Notícias"), "{}", p.text);
        assert!(!p.text.contains("encoding"));
    }

    #[test]
    fn declared_latin1_but_utf8() {
        let body = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><rss version=\"2.0\"><channel><title>Notícias</title></channel></rss>";
        let p = prepare(body.as_bytes(), None).expect("prepared");
        assert!(p.text.contains("Notícias"));
        assert!(p.text.starts_with("<?xml version=\"1.0\"?>"), "{}", p.text);
    }

    #[test]
    fn windows_1251_and_gb18030() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode("<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss version=\"2.0\"><channel><title>Новости дня</title></channel></rss>");
        let p = prepare(&bytes, None).expect("prepared");
        assert!(p.text.contains("Новости дня"));
        let (bytes, _, _) = encoding_rs::GB18030.encode("<?xml version=\"1.0\" encoding=\"gb18030\"?><rss version=\"2.0\"><channel><title>中文新闻标题</title></channel></rss>");
        let p = prepare(&bytes, None).expect("prepared");
        assert!(p.text.contains("中文新闻标题"));
    }

    #[test]
    fn declarations_past_the_start_are_removed() {
        assert_eq!(
            strip_declared_encoding(
                "<?xml version='1.0' encoding='latin1' standalone='yes'?><rss><?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><![CDATA[<?xml x?>]]><?xml-stylesheet href='a'?></rss>"
            ),
            "<?xml version=\"1.0\"?><rss><![CDATA[]]><?xml-stylesheet href='a'?></rss>"
        );
        assert_eq!(strip_declared_encoding("<rss/><?xml "), "<rss/>");
        // Inside an unclosed comment, as quick-xml may not see it.
        assert_eq!(
            strip_declared_encoding("<rss><!-- x <?xml version='1.0' encoding='latin1'?></rss>"),
            "<rss><!-- x </rss>"
        );
        assert_eq!(strip_declared_encoding("<rss/>"), "<rss/>");
    }

    #[test]
    fn content_type_charset_used_without_declaration() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251
            .encode("<rss version=\"2.0\"><channel><title>Новости</title></channel></rss>");
        let p =
            prepare(&bytes, Some("application/rss+xml; charset=windows-1251")).expect("prepared");
        assert!(p.text.contains("Новости"));
    }

    #[test]
    fn leading_whitespace_and_bom() {
        let body = b"\xEF\xBB\xBF\n\n  <?xml version=\"1.0\"?><rss version=\"2.0\"></rss>";
        let p = prepare(body, None).expect("prepared");
        assert!(p.text.starts_with("<?xml"));
    }

    #[test]
    fn utf16_bom() {
        let s = "<?xml version=\"1.0\" encoding=\"utf-16\"?><feed/>";
        let mut bytes = vec![0xFF, 0xFE];
        for u in s.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let p = prepare(&bytes, None).expect("prepared");
        assert_eq!(p.text, "<?xml version=\"1.0\"?><feed/>");
    }

    #[test]
    fn html_is_rejected() {
        assert!(prepare(b"<!DOCTYPE html><html><body>502</body></html>", None).is_err());
        assert!(prepare(b"<!-- x --><HTML><body>x</body></HTML>", None).is_err());
        assert!(prepare(b"", None).is_err());
        assert!(prepare(b"Service unavailable", None).is_err());
    }

    #[test]
    fn rss_version_fixed() {
        assert_eq!(
            fix_rss_version("<rss><channel/></rss>"),
            "<rss version=\"2.0\"><channel/></rss>"
        );
        assert_eq!(
            fix_rss_version("<rss version='0.94'><channel/></rss>"),
            "<rss version=\"2.0\"><channel/></rss>"
        );
        assert_eq!(
            fix_rss_version("<rss version=\"2.0\"/>"),
            "<rss version=\"2.0\"/>"
        );
    }

    #[test]
    fn repair_cuts_after_last_item() {
        let s = "<rss version=\"2.0\"><channel><title>t</title><item><title>a</title></item><item><title>b";
        assert_eq!(
            repair_truncated(s).as_deref(),
            Some(
                "<rss version=\"2.0\"><channel><title>t</title><item><title>a</title></item></channel></rss>"
            )
        );
        let s = "<rss version=\"2.0\"><channel><title>t</title><!-- error -->";
        assert_eq!(
            repair_truncated(s).as_deref(),
            Some("<rss version=\"2.0\"><channel><title>t</title><!-- error --></channel></rss>")
        );
    }

    #[test]
    fn embedded_feed_search_is_linear() {
        let page =
            "<html><body><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title></feed>";
        assert_eq!(
            extract_embedded_feed(page).as_deref(),
            Some("<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title></feed>")
        );
        // 10 MB of candidate start tags after the last end tag: a search from
        // the end for each of them was hours of work.
        let page = format!("<html>{}{}", "</feed>", "<feed >".repeat(1_500_000));
        assert_eq!(extract_embedded_feed(&page), None);
        assert!(prepare(page.as_bytes(), None).is_err());
    }

    #[test]
    fn documents_are_cut_at_the_item_and_element_limits() {
        let feed = "<rss><channel><title>t</title><item><a/><b/></item><item/><item><c/><d/><e/></item><!-- <x/><y/> --></channel></rss>";
        assert_eq!(cap_elements(feed, 3, 100), None);
        assert_eq!(
            cap_elements(feed, 2, 100).as_deref(),
            Some("<rss><channel><title>t</title><item><a/><b/></item><item/></channel></rss>")
        );
        // Passing the element limit inside an item drops that whole item.
        assert_eq!(
            cap_elements(feed, 10, 8).as_deref(),
            Some("<rss><channel><title>t</title><item><a/><b/></item><item/></channel></rss>")
        );
        // Outside items, the cut is at the element that passes it.
        assert_eq!(
            cap_elements("<feed><title/><link/><link/><link/></feed>", 10, 3).as_deref(),
            Some("<feed><title/><link/></feed>")
        );
        // Atom entries, RDF items and comments, CDATA, in the count.
        let atom = "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>1</id></entry><entry><id><![CDATA[<a><b>]]></id></entry></feed>";
        assert_eq!(
            cap_elements(atom, 1, 100).as_deref(),
            Some("<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>1</id></entry></feed>")
        );
        assert_eq!(cap_elements(atom, 2, 5), None);
        for garbage in ["<", "<item", "<é", "<item/é", "</", "<rss><item>é"] {
            let _ = cap_elements(garbage, 0, 0);
        }
    }

    #[test]
    fn json_is_read_within_the_item_and_value_limits() {
        let parse = |text: &str, items, values| {
            bounded_json::parse(text, items, values).map(|v| v.to_string())
        };
        assert_eq!(
            parse(
                r#"{"items":[{"id":"1"},{"id":"2"},{"id":"3"}],"title":"t"}"#,
                2,
                100
            )
            .as_deref(),
            Ok(r#"{"items":[{"id":"1"},{"id":"2"}],"title":"t"}"#)
        );
        // A member too big for the budget is dropped and gives its share back.
        assert_eq!(
            parse(
                r#"{"x":[0,0,0,0,0,0],"items":[{"id":"1"},{"id":"2"}],"title":"t"}"#,
                10,
                3
            )
            .as_deref(),
            Ok(r#"{"items":[{"id":"1"}],"title":"t"}"#)
        );
        assert!(parse("[1, 2]", 10, 10).is_err());
        assert!(parse(r#"{"items": [{"id": "1"}"#, 10, 10).is_err());
        assert!(parse(r#"{"a": 1} x"#, 10, 10).is_err());
    }

    #[test]
    fn repair_closes_the_innermost_match() {
        // </b> closes b and the a and c inside it, not the outer a.
        let s = "<rss><channel><x><a><b><a><c></b><item></item><item><y>";
        assert_eq!(
            repair_truncated(s).as_deref(),
            Some("<rss><channel><x><a><b><a><c></b><item></item></a></x></channel></rss>")
        );
        let s = "<rss><channel><item><d><a><b></x></a><c></item><item><t>x";
        assert_eq!(
            repair_truncated(s).as_deref(),
            Some("<rss><channel><item><d><a><b></x></a><c></item></channel></rss>")
        );
    }

    #[test]
    fn repair_of_a_huge_broken_feed_is_linear() {
        // 10 MB of open elements then of end tags that match none of them,
        // cut mid-item: the stack search made this hours of work.
        let n = 1_400_000;
        let s = format!(
            "<rss version=\"2.0\"><channel><item><description>{}{}</description></item><item><title>b",
            "<a>".repeat(n),
            "</b>".repeat(n)
        );
        assert!(s.len() > 9_000_000);
        let repaired = repair_truncated(&s).expect("repaired");
        assert!(repaired.ends_with("</description></item></channel></rss>"));
    }
}
