//! Whether the page's article is free to read, from the markers publishers
//! put there for search engines and for their own paywall: schema.org's
//! `isAccessibleForFree` (JSON-LD, on any object or a part of it, or
//! microdata) and `<meta property="article:content_tier">`. Nothing keyed
//! to one site.

use dom_query::Document;
use serde_json::Value;

/// The article's access, as the page declares it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Free,
    /// Behind a paywall or a meter: the page's text may be a teaser.
    Paywalled,
    /// No marker either way (or no page).
    #[default]
    Unknown,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Free => "free",
            Access::Paywalled => "paywalled",
            Access::Unknown => "unknown",
        }
    }
}

/// How deep `hasPart` is followed.
const MAX_PART_DEPTH: usize = 4;

/// A schema.org boolean: JSON `true`/`false`, or the strings publishers
/// write (`"False"`, `"true"`), with or without the schema.org prefix.
fn schema_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => {
            let s = s.trim();
            let s = s
                .strip_prefix("https://schema.org/")
                .or_else(|| s.strip_prefix("http://schema.org/"))
                .unwrap_or(s);
            if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }
        Value::Array(items) => items.iter().find_map(schema_bool),
        _ => None,
    }
}

/// Every `isAccessibleForFree` of an object and of its parts.
fn ld_flags(v: &Value, depth: usize, out: &mut Vec<bool>) {
    if depth > MAX_PART_DEPTH {
        return;
    }
    if let Some(flag) = v.get("isAccessibleForFree").and_then(schema_bool) {
        out.push(flag);
    }
    match v.get("hasPart") {
        Some(Value::Array(parts)) => parts.iter().for_each(|p| ld_flags(p, depth + 1, out)),
        Some(part @ Value::Object(_)) => ld_flags(part, depth + 1, out),
        _ => {}
    }
}

/// The access the page declares: paywalled when any marker says locked,
/// metered or not free (a free page with a locked part is paywalled); free
/// when markers say only free; unknown without markers.
pub fn detect(doc: &Document, objs: &[Value]) -> Access {
    let mut flags = Vec::new();
    // The main article's flags when there is one: other articles on the
    // page (related stories) speak for themselves, not for this one.
    match super::jsonld::main_article(objs) {
        Some(article) => ld_flags(article, 0, &mut flags),
        None => objs.iter().for_each(|o| ld_flags(o, 0, &mut flags)),
    }
    for node in doc.select("[itemprop]").nodes() {
        let is_flag = node.attr("itemprop").is_some_and(|p| {
            p.split_whitespace()
                .any(|p| p.eq_ignore_ascii_case("isAccessibleForFree"))
        });
        if is_flag {
            let value = node
                .attr("content")
                .map(|c| c.to_string())
                .unwrap_or_else(|| node.text().to_string());
            if let Some(flag) = schema_bool(&Value::String(value)) {
                flags.push(flag);
            }
        }
    }
    for node in doc.select("meta[content]").nodes() {
        let is_tier = ["property", "name"].iter().any(|a| {
            node.attr(a)
                .is_some_and(|n| n.trim().eq_ignore_ascii_case("article:content_tier"))
        });
        if !is_tier {
            continue;
        }
        let tier = node.attr("content").unwrap_or_default();
        match tier.trim().to_ascii_lowercase().as_str() {
            "locked" | "metered" => flags.push(false),
            "free" => flags.push(true),
            _ => {}
        }
    }
    if flags.contains(&false) {
        Access::Paywalled
    } else if flags.contains(&true) {
        Access::Free
    } else {
        Access::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::jsonld;

    fn access_of(head: &str, body: &str) -> Access {
        let html = format!("<html><head>{head}</head><body>{body}</body></html>");
        let doc = Document::from(html.as_str());
        let objs = jsonld::objects(&doc);
        detect(&doc, &objs)
    }

    fn ld(json: &str) -> String {
        format!(r#"<script type="application/ld+json">{json}</script>"#)
    }

    #[test]
    fn schema_org_flag_on_the_article_or_a_part() {
        let paywalled = [
            r#"{"@type":"NewsArticle","isAccessibleForFree":false}"#,
            r#"{"@type":"NewsArticle","isAccessibleForFree":"False"}"#,
            r#"{"@type":"NewsArticle","isAccessibleForFree":"http://schema.org/False"}"#,
            r#"{"@graph":[{"@type":"WebPage","isAccessibleForFree":"false"}]}"#,
            r#"{"@type":"NewsArticle","isAccessibleForFree":true,
                "hasPart":{"@type":"WebPageElement","isAccessibleForFree":false,"cssSelector":".paywall"}}"#,
            r#"{"@type":"NewsArticle",
                "hasPart":[{"@type":"WebPageElement","isAccessibleForFree":"False"}]}"#,
        ];
        for json in paywalled {
            assert_eq!(access_of(&ld(json), ""), Access::Paywalled, "{json}");
        }
        let free = r#"{"@type":"NewsArticle","isAccessibleForFree":"True"}"#;
        assert_eq!(access_of(&ld(free), ""), Access::Free);
        // A locked related story does not lock this one.
        let related = r#"[{"@type":"NewsArticle","headline":"This","isAccessibleForFree":true},
            {"@type":"NewsArticle","isAccessibleForFree":false}]"#;
        assert_eq!(access_of(&ld(related), ""), Access::Free);
        let neither = r#"{"@type":"NewsArticle","isAccessibleForFree":"maybe"}"#;
        assert_eq!(access_of(&ld(neither), ""), Access::Unknown);
        assert_eq!(access_of("", "<p>Text</p>"), Access::Unknown);
    }

    #[test]
    fn microdata_flag() {
        let body = r#"<article itemscope itemtype="https://schema.org/NewsArticle">
            <meta itemprop="isAccessibleForFree" content="False"><p>Teaser</p></article>"#;
        assert_eq!(access_of("", body), Access::Paywalled);
        let body = r#"<div itemscope><meta itemprop="isAccessibleForFree" content="true"></div>"#;
        assert_eq!(access_of("", body), Access::Free);
    }

    #[test]
    fn content_tier_meta() {
        for (tier, access) in [
            ("locked", Access::Paywalled),
            ("Metered", Access::Paywalled),
            ("free", Access::Free),
            ("whatever", Access::Unknown),
        ] {
            let head = format!(r#"<meta property="article:content_tier" content="{tier}">"#);
            assert_eq!(access_of(&head, ""), access, "{tier}");
            let head = format!(r#"<meta name="article:content_tier" content="{tier}">"#);
            assert_eq!(access_of(&head, ""), access, "{tier}");
        }
        // A locked tier beats a free flag elsewhere on the page.
        let head = format!(
            r#"<meta property="article:content_tier" content="locked">{}"#,
            ld(r#"{"@type":"NewsArticle","isAccessibleForFree":true}"#)
        );
        assert_eq!(access_of(&head, ""), Access::Paywalled);
    }
}
