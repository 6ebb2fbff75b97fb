//! Byte → String decoding: Content-Type charset, BOM, `<meta>` charset, detection.

use encoding_rs::Encoding;

/// Decode raw page bytes to a String. Order: charset from the Content-Type
/// header, then BOM, then `<meta charset>` / http-equiv in the first 4 KB,
/// then detection with chardetng. Invalid sequences are replaced.
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

fn label_to_encoding(label: &str) -> Option<&'static Encoding> {
    let label = label.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    let enc = Encoding::for_label(label.as_bytes())?;
    // A page cannot really be UTF-16 if it declares so in ASCII (HTML spec).
    if enc == encoding_rs::UTF_16LE || enc == encoding_rs::UTF_16BE {
        return Some(encoding_rs::UTF_8);
    }
    if enc == encoding_rs::REPLACEMENT {
        return None;
    }
    Some(enc)
}

/// `text/html; charset=ISO-8859-1` → windows-1252.
pub(crate) fn charset_from_content_type(ct: &str) -> Option<&'static Encoding> {
    ct.split(';').skip(1).find_map(|part| {
        let (k, v) = part.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("charset") {
            label_to_encoding(v)
        } else {
            None
        }
    })
}

/// Scan the head bytes for `charset=` inside a `<meta` tag.
pub(crate) fn charset_from_meta(head: &[u8]) -> Option<&'static Encoding> {
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    let mut pos = 0;
    while let Some(off) = find(&lower[pos..], b"<meta") {
        let start = pos + off;
        let end = find(&lower[start..], b">").map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find(tag, b"charset") {
            let mut rest = &tag[c + 7..];
            rest = trim_start(rest);
            if let Some(r) = rest.strip_prefix(b"=") {
                let r = trim_start(r);
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
                if let Ok(label) = std::str::from_utf8(&r[..len])
                    && let Some(enc) = label_to_encoding(label)
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

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn detect(bytes: &[u8]) -> &'static Encoding {
    if std::str::from_utf8(bytes).is_ok() {
        return encoding_rs::UTF_8;
    }
    let mut det = chardetng::EncodingDetector::new();
    // Enough to decide; keeps detection time bounded on huge inputs.
    det.feed(&bytes[..bytes.len().min(256 * 1024)], true);
    det.guess(None, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_charset_wins() {
        let bytes = b"<html><meta charset=utf-8><p>caf\xe9</p>";
        let s = decode_html(bytes, Some("text/html; charset=ISO-8859-1"));
        assert!(s.contains("café"));
    }

    #[test]
    fn bom_used() {
        let mut bytes = vec![0xEF, 0xBB, 0xBF];
        bytes.extend_from_slice("<p>naïve</p>".as_bytes());
        let s = decode_html(&bytes, None);
        assert_eq!(s, "<p>naïve</p>");
    }

    #[test]
    fn meta_charset_and_http_equiv() {
        let bytes =
            b"<html><head><meta charset=\"windows-1251\"></head><p>\xcf\xf0\xe8\xe2\xe5\xf2</p>";
        assert!(decode_html(bytes, None).contains("Привет"));
        let bytes = b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"><p>\xe9t\xe9</p>";
        assert!(decode_html(bytes, Some("text/html")).contains("été"));
    }

    #[test]
    fn detection_fallback() {
        let s = decode_html("<p>plain utf-8 — ok</p>".as_bytes(), None);
        assert!(s.contains("— ok"));
        let latin =
            b"<p>Le caf\xe9 est tr\xe8s bon et la cr\xe8me br\xfbl\xe9e aussi, d\xe9j\xe0 vu.</p>";
        assert!(decode_html(latin, None).contains("café"));
    }

    #[test]
    fn garbage_never_fails() {
        let bytes: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let _ = decode_html(&bytes, Some("text/html; charset=bogus"));
        let _ = decode_html(b"<meta charset=", None);
        let _ = decode_html(b"", None);
    }
}
