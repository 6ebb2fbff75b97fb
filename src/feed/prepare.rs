//! A body made ready for feed-rs: transcoded to UTF-8 (`text::charset`),
//! then a JSON Feed normalised (`json_feed`) or an XML document
//! rewritten (`rewrite`) and cut to the limits (`repair`).

use super::{json_feed, repair, rewrite};
use crate::text::charset;

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

/// Most items a feed document yields; the rest of a longer one is cut.
pub const MAX_ITEMS: usize = 10_000;
/// Most elements a feed document may have before the rest is cut. feed-rs
/// builds a struct of 50–500 bytes for each element it knows, so 10 MB of
/// `<item/>` (1.4 million items) took 1.1 GB; real feeds of that size have
/// far fewer, longer elements.
pub const MAX_ELEMENTS: usize = 200_000;

/// Transcode and clean the body. Errors are plain messages for `NotAFeed`.
pub fn prepare(body: &[u8], content_type: Option<&str>) -> Result<Prepared, String> {
    let (text, _encoding) = charset::decode_feed(body, content_type);
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
        DocKind::Json => match json_feed::normalize(text, MAX_ITEMS, MAX_ELEMENTS) {
            Ok(normalized) => normalized,
            Err(e) => {
                // Not handed to feed-rs, which would read all of it first.
                invalid_json = Some(e);
                text.to_string()
            }
        },
        DocKind::Xml => {
            let mut t = rewrite::strip_declared_encoding(text);
            if let Some(root) = rewrite::root_element_name(&t)
                && root.eq_ignore_ascii_case("html")
            {
                // Some sites wrap the feed in an XHTML page; otherwise it is an error page.
                t = rewrite::extract_embedded_feed(&t)
                    .ok_or_else(|| "an HTML page, not a feed".to_string())?;
            }
            if let Some(fixed) = rewrite::rewrite_atom03(&t) {
                t = fixed;
            }
            if let Some(fixed) = rewrite::rewrite_rss090_namespace(&t) {
                rss090 = true;
                t = fixed;
            }
            if let Some(capped) = repair::cap_elements(&t, MAX_ITEMS, MAX_ELEMENTS) {
                t = capped;
            }
            rewrite::fix_rss_version(&t)
        }
    };
    Ok(Prepared {
        text,
        kind,
        rss090,
        invalid_json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
