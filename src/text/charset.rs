//! Bytes to UTF-8 for feeds (XML, JSON) and pages (HTML): one set of
//! primitives (labels, BOMs, detection), two orders of evidence.
//!
//! - A feed ([`decode_feed`]): BOM or UTF-16/32 byte pattern; bytes that are
//!   valid UTF-8 are UTF-8 (a legacy label on valid multi-byte UTF-8 is
//!   wrong); the XML declaration, then the Content-Type charset, when they
//!   decode without error; chardetng's guess.
//! - A page ([`decode_html`]), as browsers do: Content-Type charset, BOM,
//!   `<meta charset>` / http-equiv in the first 4 KB, detection.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

/// Bytes chardetng reads at most: enough to decide, and detection time
/// stays bounded on huge inputs.
const DETECT_BYTES: usize = 256 * 1024;

/// The encoding a label names. A document cannot be UTF-16 if it says so
/// in ASCII (HTML spec): such a label means UTF-8. `replacement` is no
/// encoding to decode with.
fn label_to_encoding(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(['"', '\'']).trim();
    let enc = Encoding::for_label(label.as_bytes())?;
    if enc == UTF_16LE || enc == UTF_16BE {
        return Some(UTF_8);
    }
    (enc != encoding_rs::REPLACEMENT).then_some(enc)
}

/// `text/html; charset=ISO-8859-1` → windows-1252.
pub fn charset_from_content_type(ct: &str) -> Option<&'static Encoding> {
    ct.split(';').skip(1).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| label_to_encoding(v))
            .flatten()
    })
}

/// chardetng's guess; valid UTF-8 is UTF-8.
fn detect(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() {
        return UTF_8;
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(&bytes[..bytes.len().min(DETECT_BYTES)], true);
    det.guess(None, true)
}

// ---- feeds ----

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

/// Decode with a BOM or a UTF-16/32 byte pattern around the first `<`.
fn decode_by_bom_or_pattern(bytes: &[u8]) -> Option<(String, &'static str)> {
    let utf16 = |enc: &'static Encoding, bytes: &[u8]| {
        let (text, _) = enc.decode_without_bom_handling(bytes);
        Some((text.into_owned(), enc.name()))
    };
    match bytes {
        [0x00, 0x00, 0xFE, 0xFF, rest @ ..] => Some((decode_utf32(rest, true), "UTF-32BE")),
        [0xFF, 0xFE, 0x00, 0x00, rest @ ..] => Some((decode_utf32(rest, false), "UTF-32LE")),
        [0x00, 0x00, 0x00, 0x3C, ..] => Some((decode_utf32(bytes, true), "UTF-32BE")),
        [0x3C, 0x00, 0x00, 0x00, ..] => Some((decode_utf32(bytes, false), "UTF-32LE")),
        _ => match Encoding::for_bom(bytes) {
            Some((enc, bom_len)) => utf16(enc, &bytes[bom_len..]),
            None => match bytes {
                [0x00, 0x3C, 0x00, _, ..] => utf16(UTF_16BE, bytes),
                [0x3C, 0x00, _, 0x00, ..] => utf16(UTF_16LE, bytes),
                _ => None,
            },
        },
    }
}

/// The `encoding="..."` of an XML declaration at the start of `head`.
fn declared_encoding(head: &[u8]) -> Option<&'static Encoding> {
    let start = head
        .iter()
        .position(|&b| !(b.is_ascii_whitespace() || b == 0 || b == 0xEF || b == 0xBB || b == 0xBF))
        .unwrap_or(head.len());
    let head = head[start..].strip_prefix(b"<?xml")?;
    let end = head.iter().position(|&b| b == b'>')?;
    let decl = std::str::from_utf8(&head[..end]).ok()?;
    let rest = decl[decl.find("encoding")? + "encoding".len()..]
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'')?;
    let inner = &rest[1..];
    label_to_encoding(&inner[..inner.find(quote)?])
}

/// A feed's text and the name of the encoding it was decoded with.
pub fn decode_feed(bytes: &[u8], content_type: Option<&str>) -> (String, &'static str) {
    if let Some(done) = decode_by_bom_or_pattern(bytes) {
        return done;
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return (s.to_string(), "UTF-8");
    }
    let declared = declared_encoding(&bytes[..bytes.len().min(1024)]);
    let labelled = content_type.and_then(charset_from_content_type);
    // UTF-8 already failed.
    for enc in [declared, labelled].into_iter().flatten() {
        if enc == UTF_8 {
            continue;
        }
        if let Some(s) = enc.decode_without_bom_handling_and_without_replacement(bytes) {
            return (s.into_owned(), enc.name());
        }
    }
    let enc = detect(bytes);
    let (text, _, _) = enc.decode(bytes);
    (text.into_owned(), enc.name())
}

// ---- pages ----

/// A page's text; invalid sequences are replaced.
pub fn decode_html(bytes: &[u8], content_type: Option<&str>) -> String {
    let encoding = content_type
        .and_then(charset_from_content_type)
        .or_else(|| Encoding::for_bom(bytes).map(|(e, _)| e))
        .or_else(|| charset_from_meta(&bytes[..bytes.len().min(4096)]))
        .unwrap_or_else(|| detect(bytes));
    // `decode` still honours a BOM (which wins over the label, as in browsers).
    let (text, _, _) = encoding.decode(bytes);
    text.into_owned()
}

/// The `charset=` inside a `<meta` tag of `head`.
fn charset_from_meta(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(off) = memchr::memmem::find(&lower[pos..], b"<meta") {
        let start = pos + off;
        let end = memchr::memchr(b'>', &lower[start..]).map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = memchr::memmem::find(tag, b"charset") {
            let rest = tag[c + 7..].trim_ascii_start();
            if let Some(r) = rest.strip_prefix(b"=") {
                let r = r.trim_ascii_start();
                let r = r
                    .strip_prefix(b"\"")
                    .or_else(|| r.strip_prefix(b"'"))
                    .unwrap_or(r);
                let len = r
                    .iter()
                    .position(|b| {
                        matches!(b, b'"' | b'\'' | b';' | b'/' | b'>') || b.is_ascii_whitespace()
                    })
                    .unwrap_or(r.len());
                if let Some(enc) = std::str::from_utf8(&r[..len])
                    .ok()
                    .and_then(label_to_encoding)
                {
                    return Some(enc);
                }
            }
        }
        pos = end.max(start + 1);
        if pos >= lower.len() {
            break;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_charset() {
        assert_eq!(
            charset_from_content_type("text/xml; charset=\"ISO-8859-1\""),
            Some(encoding_rs::WINDOWS_1252)
        );
        assert_eq!(charset_from_content_type("text/xml"), None);
        assert_eq!(
            charset_from_content_type("text/html; charset=utf-16"),
            Some(UTF_8)
        );
        assert_eq!(charset_from_content_type("text/html; charset=bogus"), None);
    }

    #[test]
    fn feed_declaration_then_content_type_then_detection() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251
            .encode("<?xml version=\"1.0\" encoding=\"windows-1251\"?><rss><title>Новости дня</title></rss>");
        let (text, name) = decode_feed(&bytes, None);
        assert!(text.contains("Новости дня"));
        assert_eq!(name, "windows-1251");
        let (bytes, _, _) = encoding_rs::GB18030.encode("<rss><title>中文新闻标题</title></rss>");
        let (text, name) = decode_feed(&bytes, Some("application/rss+xml; charset=gb18030"));
        assert!(text.contains("中文新闻标题"));
        assert_eq!(name, "gb18030");
    }

    #[test]
    fn feed_valid_utf8_beats_a_legacy_label() {
        let bytes = "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?><rss>Café</rss>".as_bytes();
        let (text, name) = decode_feed(bytes, Some("text/xml; charset=iso-8859-1"));
        assert!(text.contains("Café"));
        assert_eq!(name, "UTF-8");
    }

    #[test]
    fn feed_utf16_and_utf32_patterns() {
        let utf16: Vec<u8> = "<rss>é</rss>"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(
            decode_feed(&utf16, None),
            ("<rss>é</rss>".to_string(), "UTF-16LE")
        );
        let utf32: Vec<u8> = "<rss>é</rss>"
            .chars()
            .flat_map(|c| (c as u32).to_be_bytes())
            .collect();
        assert_eq!(
            decode_feed(&utf32, None),
            ("<rss>é</rss>".to_string(), "UTF-32BE")
        );
    }

    #[test]
    fn html_header_charset_wins() {
        let bytes = b"<html><meta charset=utf-8><p>caf\xe9</p>";
        let s = decode_html(bytes, Some("text/html; charset=ISO-8859-1"));
        assert!(s.contains("café"));
    }

    #[test]
    fn html_bom_used() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice("<p>naïve</p>".as_bytes());
        assert_eq!(decode_html(&bytes, None), "<p>naïve</p>");
    }

    #[test]
    fn html_meta_charset_and_http_equiv() {
        let bytes =
            b"<html><head><meta charset=\"windows-1251\"></head><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>";
        assert!(decode_html(bytes, None).contains("Привет"));
        let bytes = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"><p>\xe9t\xe9</p>";
        assert!(decode_html(bytes, Some("text/html")).contains("été"));
    }

    #[test]
    fn html_detection_fallback() {
        let s = decode_html("<p>plain utf-8 — ok</p>".as_bytes(), None);
        assert!(s.contains("— ok"));
        let latin =
            b"<p>Le caf\xe9 est tr\xe8s bon et la cr\xe8me br\xfbl\xe9e aussi, d\xe9j\xe0 vu.</p>";
        assert!(decode_html(latin, None).contains("café"));
    }

    #[test]
    fn garbage_decodes_to_as_many_characters_as_it_can() {
        let bytes: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        // Every byte becomes at least one character (single-byte guess) or a
        // replacement: nothing is dropped silently.
        let html = decode_html(&bytes, Some("text/html; charset=bogus"));
        assert!(html.chars().count() >= bytes.len() / 4);
        let (feed, _) = decode_feed(&bytes, Some("text/xml; charset=bogus"));
        assert!(feed.chars().count() >= bytes.len() / 4);
        assert_eq!(decode_html(b"<meta charset=", None), "<meta charset=");
        assert_eq!(decode_html(b"", None), "");
    }
}
