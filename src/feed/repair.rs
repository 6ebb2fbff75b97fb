//! Cutting and closing XML: a truncated feed is cut after its last complete
//! item and what is left open is closed; a document past the item or element
//! limits is cut the same way. Both walk the document once, with an
//! open-element stack that finds an end tag's start tag in O(1). Plus the
//! retries' text fixes: stray ampersands, content types feed-rs rejects.

use super::rewrite::skip_special;

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

#[cfg(test)]
mod tests {
    use super::*;

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
        // However broken, a document is cut before its first element; a
        // lone `<` or `</` has none to cut.
        for garbage in ["<item", "<é", "<item/é", "<rss><item>é"] {
            assert_eq!(
                cap_elements(garbage, 0, 0).as_deref(),
                Some(""),
                "{garbage}"
            );
        }
        for garbage in ["<", "</"] {
            assert_eq!(cap_elements(garbage, 0, 0), None, "{garbage}");
        }
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
