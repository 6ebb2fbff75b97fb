//! OPML subscription lists, as feed readers export them: every `<outline>`
//! with an `xmlUrl`, at any depth (folders nest outlines).

/// One subscription of an OPML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub title: Option<String>,
    pub xml_url: String,
}

/// Reads the subscriptions of an OPML document. Lenient: attribute names in
/// any case, folders at any depth, entities decoded; malformed XML yields
/// what can be read.
pub fn parse_opml(text: &str) -> Vec<Subscription> {
    // The HTML parser is lenient and lower-cases attribute names, which is
    // what OPML files from the wild need (xmlUrl, xmlurl, XMLURL all occur).
    let doc = dom_query::Document::from(text);
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn garbage_yields_nothing() {
        assert!(parse_opml("not xml at all <<<").is_empty());
    }
}
