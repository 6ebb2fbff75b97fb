//! Bytes to UTF-8: a feed's real encoding from its BOM or byte pattern, its
//! bytes (valid UTF-8 wins over a wrong legacy label), its XML declaration,
//! the Content-Type charset, and chardetng's guess, in that order.

use encoding_rs::{Encoding, UTF_8};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::prepare::prepare;

    #[test]
    fn content_type_charset() {
        assert_eq!(
            charset_from_content_type("text/xml; charset=\"ISO-8859-1\""),
            Some("ISO-8859-1")
        );
        assert_eq!(charset_from_content_type("text/xml"), None);
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
    fn content_type_charset_used_without_declaration() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251
            .encode("<rss version=\"2.0\"><channel><title>Новости</title></channel></rss>");
        let p =
            prepare(&bytes, Some("application/rss+xml; charset=windows-1251")).expect("prepared");
        assert!(p.text.contains("Новости"));
    }
}
