//! OPML subscription lists, as feed readers export them: every `<outline>`
//! with an `xmlUrl`, at any depth (folders nest outlines).

use std::borrow::Cow;

use crate::extract::depth;

/// One subscription of an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub title: Option<String>,
    pub xml_url: String,
}

/// The HTML parser is lenient and lower-cases attribute names, which is
/// what OPML files from the wild need (xmlUrl, xmlurl, XMLURL all occur).
/// Its tree builder is quadratic in nesting depth, so a file nested past the
/// extractor's cap goes through the extractor's pre-pass first. Only then:
/// the pre-pass also drops `title` attributes (`text` remains).
fn parse_document(text: &str) -> dom_query::Document {
    let capped = if depth::max_depth(text) > depth::MAX_DEPTH {
        depth::cap_depth(text)
    } else {
        Cow::Borrowed(text)
    };
    dom_query::Document::from(capped.as_ref())
}

/// Reads the subscriptions of an OPML document. Lenient: attribute names in
/// any case, folders at any depth, entities decoded; malformed XML yields
/// what can be read.
pub fn parse_opml(text: &str) -> Vec<Subscription> {
    let doc = parse_document(text);
    let mut out: Vec<Subscription> = Vec::new();
    for node in doc.select("outline[xmlurl]").nodes() {
        let Some(url) = node.attr("xmlurl").map(|u| u.trim().to_string()) else {
            continue;
        };
        if url.is_empty() || out.iter().any(|s| s.xml_url == url) {
            continue;
        }
        let title = node
            .attr("title")
            .or_else(|| node.attr("text"))
            .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|t| !t.is_empty());
        out.push(Subscription {
            title,
            xml_url: url,
        });
    }
    out
}

/// Writes subscriptions as an OPML 2.0 document, one `<outline>` each, as
/// feed readers import it.
pub fn write_opml(title: &str, subscriptions: &[Subscription]) -> String {
    use quick_xml::escape::escape;
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<opml version=\"2.0\">\n  <head><title>{}</title></head>\n  <body>\n",
        escape(title)
    );
    for sub in subscriptions {
        let text = escape(sub.title.as_deref().unwrap_or(&sub.xml_url)).into_owned();
        out.push_str(&format!(
            "    <outline type=\"rss\" text=\"{text}\" title=\"{text}\" xmlUrl=\"{}\"/>\n",
            escape(&sub.xml_url)
        ));
    }
    out.push_str("  </body>\n</opml>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_opml_reads_back() {
        let subs = vec![
            Subscription {
                title: Some("Tech & \"Science\" <daily>".into()),
                xml_url: "https://example.org/feed?a=1&b=2".into(),
            },
            Subscription {
                title: None,
                xml_url: "https://example.org/other.xml".into(),
            },
        ];
        let back = parse_opml(&write_opml("feedwire & co", &subs));
        assert_eq!(back[0], subs[0]);
        assert_eq!(back[1].xml_url, subs[1].xml_url);
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn reads_nested_outlines() {
        let opml = r#"<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>My feeds</title></head><body>
  <outline text="News" title="News">
    <outline type="rss" text="BBC News - World" title="BBC News - World"
             xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml" htmlUrl="https://www.bbc.co.uk/news/world"/>
    <outline type="rss" text="Tech &amp; Science" XMLURL="https://example.org/tech.atom"/>
  </outline>
  <outline type="rss" text="Duplicate" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>
  <outline text="No feed here"/>
</body></opml>"#;
        let subs = parse_opml(opml);
        assert_eq!(
            subs,
            vec![
                Subscription {
                    title: Some("BBC News - World".into()),
                    xml_url: "https://feeds.bbci.co.uk/news/world/rss.xml".into()
                },
                Subscription {
                    title: Some("Tech & Science".into()),
                    xml_url: "https://example.org/tech.atom".into()
                },
            ]
        );
    }

    #[test]
    fn deep_folders_are_parsed_with_the_depth_cap() {
        let n = 30_000;
        let opml = format!(
            "<opml><body>{}<outline text=\"Deep\" xmlUrl=\"https://example.org/deep.xml\"/>{}\
             <outline text=\"Top\" xmlUrl=\"https://example.org/top.xml\"/></body></opml>",
            "<outline text=\"folder\">".repeat(n),
            "</outline>".repeat(n)
        );
        let depth = crate::feed::text::tree_depth(&parse_document(&opml));
        // html, body and opml wrap the outlines.
        assert!(depth <= depth::MAX_DEPTH + 4, "{depth}");
        let urls: Vec<String> = parse_opml(&opml).into_iter().map(|s| s.xml_url).collect();
        assert_eq!(
            urls,
            [
                "https://example.org/deep.xml",
                "https://example.org/top.xml"
            ]
        );
    }

    #[test]
    fn garbage_yields_nothing() {
        assert!(parse_opml("not xml at all <<<").is_empty());
    }
}
