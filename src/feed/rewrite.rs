//! Rewrites every XML document gets before feed-rs reads it: the XML
//! declaration cleaned up, the RSS `version` set to one feed-rs accepts,
//! Atom 0.3 and RSS 0.90 namespaces moved to the ones it knows, a feed
//! embedded in an HTML page taken out of it. The helpers read markup as
//! text, since the document may not be well-formed yet.

/// Rewrites the XML declaration at the start to a plain `<?xml
/// version="1.0"?>` (the text is UTF-8 now, XML's default) and removes any
/// other one: feed-rs switches quick-xml's decoder for each declaration that
/// names an encoding, and quick-xml panics when that happens past the start
/// of the document (found by fuzzing). Removed wherever it stands, in
/// comments and CDATA too: where quick-xml sees markup in a broken document
/// is not worth second-guessing.
pub fn strip_declared_encoding(text: &str) -> String {
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

/// Byte offset just past the markup construct starting at `i` (`<!--`, `<?`, `<![CDATA[`, `<!DOCTYPE`), if it is one.
pub fn skip_special(s: &str, i: usize) -> Option<usize> {
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

pub fn attr_value(tag: &str, name: &str) -> Option<String> {
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
pub fn fix_rss_version(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::prepare::prepare;

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
}
