//! Where to subscribe: a feed's hubs and its topic (`self`) URL, from the
//! HTTP `Link` headers of its response or from the document's own links
//! (`atom:link rel="hub"` / `rel="self"`, in Atom and, as `atom:link`, in
//! RSS). WebSub §4: a subscriber looks at the headers first; the document
//! is the fall-back. Both a hub and a topic are needed to subscribe.

use url::Url;

/// The hubs a feed names and the topic URL to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    pub hubs: Vec<Url>,
    pub topic: Url,
}

/// The feed's hubs and topic: from the `Link` headers when they name both,
/// else from the document's links (`(rel, absolute href)`, as the feed
/// parser gives them), else none. Relative header targets resolve against
/// `base` (the URL the response came from).
pub fn discover(
    link_headers: &[&str],
    document_links: &[(String, String)],
    base: &Url,
) -> Option<Discovery> {
    let from_headers: Vec<(String, Url)> = link_headers
        .iter()
        .flat_map(|value| link_header_rels(value))
        .filter_map(|(rel, target)| Some((rel, base.join(&target).ok()?)))
        .collect();
    let from_document: Vec<(String, Url)> = document_links
        .iter()
        .filter_map(|(rel, href)| Some((rel.to_ascii_lowercase(), Url::parse(href).ok()?)))
        .collect();
    pick(&from_headers).or_else(|| pick(&from_document))
}

fn pick(links: &[(String, Url)]) -> Option<Discovery> {
    let web = |url: &&Url| matches!(url.scheme(), "http" | "https");
    let mut hubs: Vec<Url> = Vec::new();
    for url in links.iter().filter(|(rel, _)| rel == "hub").map(|(_, u)| u) {
        if web(&url) && !hubs.contains(url) {
            hubs.push(url.clone());
        }
    }
    let topic = links
        .iter()
        .filter(|(rel, _)| rel == "self")
        .map(|(_, u)| u)
        .find(web)?
        .clone();
    (!hubs.is_empty()).then_some(Discovery { hubs, topic })
}

/// Each `(rel, target)` of one `Link` header value (RFC 8288): links are
/// comma-separated `<target>; param=value` forms, and a `rel` may hold
/// several space-separated relation types. Relation types are lower-cased;
/// a link without `rel` is skipped.
pub fn link_header_rels(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let target = rest[open + 1..open + close].trim().to_string();
        rest = &rest[open + close + 1..];
        // The parameters run to the next link: a comma outside quotes.
        let mut end = rest.len();
        let mut quoted = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let params = &rest[..end];
        rest = &rest[end..];
        for param in params.split(';') {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if !name.trim().eq_ignore_ascii_case("rel") {
                continue;
            }
            let value = value.trim().trim_matches('"');
            for rel in value.split_ascii_whitespace() {
                out.push((rel.to_ascii_lowercase(), target.clone()));
            }
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::parse_feed;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn link_headers_are_read_as_rfc_8288_writes_them() {
        let rels = link_header_rels(
            r#"<https://hub.example/>; rel="hub", <https://news.example/feed>; rel=self,
               <https://b.example/>; title="a, b"; rel="alternate HUB""#,
        );
        assert_eq!(
            rels,
            [
                ("hub".into(), "https://hub.example/".into()),
                ("self".into(), "https://news.example/feed".into()),
                ("alternate".into(), "https://b.example/".into()),
                ("hub".into(), "https://b.example/".into()),
            ]
        );
        assert!(link_header_rels("<https://x.example/>; title=x").is_empty());
        assert!(link_header_rels("garbage <unclosed").is_empty());
    }

    #[test]
    fn headers_come_first_and_relative_targets_resolve() {
        let base = url("https://news.example/feeds/world.xml");
        let document = vec![
            ("hub".to_string(), "https://doc-hub.example/".to_string()),
            (
                "self".to_string(),
                "https://news.example/doc-self".to_string(),
            ),
        ];
        let found = discover(
            &[r#"</hub>; rel="hub""#, r#"<world.xml>; rel="self""#],
            &document,
            &base,
        )
        .unwrap();
        assert_eq!(found.hubs, [url("https://news.example/hub")]);
        assert_eq!(found.topic, url("https://news.example/feeds/world.xml"));
        // Headers naming only a hub: the document decides.
        let found = discover(&[r#"</hub>; rel="hub""#], &document, &base).unwrap();
        assert_eq!(found.hubs, [url("https://doc-hub.example/")]);
        assert_eq!(found.topic, url("https://news.example/doc-self"));
        // No hub anywhere, or no topic: nothing to subscribe to.
        assert_eq!(discover(&[], &document[1..], &base), None);
        assert_eq!(discover(&[], &document[..1], &base), None);
        // Only web URLs are hubs or topics.
        let odd = vec![
            ("hub".to_string(), "mailto:hub@example.org".to_string()),
            ("self".to_string(), "https://news.example/feed".to_string()),
        ];
        assert_eq!(discover(&[], &odd, &base), None);
    }

    #[test]
    fn hubs_and_self_are_found_in_atom_and_in_rss() {
        let atom = br#"<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>urn:x</id>
<updated>2026-01-01T00:00:00Z</updated>
<link rel="hub" href="https://pubsubhubbub.appspot.com/"/>
<link rel="hub" href="https://hub2.example/"/>
<link rel="self" href="https://news.example/atom.xml"/>
</feed>"#;
        let rss = br#"<?xml version="1.0"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>t</title>
<link>https://news.example/</link>
<atom:link rel="hub" href="https://hub.example/"/>
<atom:link rel="self" href="https://news.example/rss.xml" type="application/rss+xml"/>
</channel></rss>"#;
        let base = url("https://news.example/");
        let atom = parse_feed(atom, None, Some(&base)).unwrap();
        let found = discover(&[], &atom.links, &base).unwrap();
        assert_eq!(
            found.hubs,
            [
                url("https://pubsubhubbub.appspot.com/"),
                url("https://hub2.example/")
            ]
        );
        assert_eq!(found.topic, url("https://news.example/atom.xml"));
        let rss = parse_feed(rss, None, Some(&base)).unwrap();
        let found = discover(&[], &rss.links, &base).unwrap();
        assert_eq!(found.hubs, [url("https://hub.example/")]);
        assert_eq!(found.topic, url("https://news.example/rss.xml"));
    }
}
