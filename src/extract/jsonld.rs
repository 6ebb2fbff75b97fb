//! JSON-LD (`<script type="application/ld+json">`) parsing: all objects,
//! flattened through arrays and `@graph`, and the main article object.

use dom_query::Document;
use serde_json::Value;

/// Types that describe an article page.
const ARTICLE_TYPES: &[&str] = &[
    "NewsArticle",
    "Article",
    "ReportageNewsArticle",
    "AnalysisNewsArticle",
    "OpinionNewsArticle",
    "BackgroundNewsArticle",
    "ReviewNewsArticle",
    "BlogPosting",
    "LiveBlogPosting",
    "Report",
    "ScholarlyArticle",
    "TechArticle",
    "SocialMediaPosting",
];

/// Upper bound on a JSON-LD script we parse (bytes).
const MAX_SCRIPT: usize = 2 * 1024 * 1024;

/// All JSON-LD objects of the page, flattened.
pub fn objects(doc: &Document) -> Vec<Value> {
    let mut out = Vec::new();
    for node in doc.select("script[type]").nodes() {
        let is_ld = node
            .attr("type")
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/ld+json"));
        if !is_ld {
            continue;
        }
        let raw = node.text();
        if raw.len() > MAX_SCRIPT {
            continue;
        }
        let s = raw
            .trim()
            .trim_start_matches("//<![CDATA[")
            .trim_start_matches("<![CDATA[")
            .trim_end_matches("//]]>")
            .trim_end_matches("]]>")
            .trim();
        let value = match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            // Some sites put raw control characters (newlines) inside strings.
            Err(_) => {
                let cleaned: String = s
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                match serde_json::from_str::<Value>(&cleaned) {
                    Ok(v) => v,
                    Err(_) => continue,
                }
            }
        };
        flatten(value, &mut out, 0);
    }
    out
}

fn flatten(v: Value, out: &mut Vec<Value>, depth: usize) {
    if depth > 8 {
        return;
    }
    match v {
        Value::Array(items) => {
            for it in items {
                flatten(it, out, depth + 1);
            }
        }
        Value::Object(mut map) => {
            if let Some(graph) = map.remove("@graph") {
                flatten(graph, out, depth + 1);
            }
            if map.keys().any(|k| k != "@context") {
                out.push(Value::Object(map));
            }
        }
        _ => {}
    }
}

/// The `@type` names of an object.
pub fn types(v: &Value) -> Vec<&str> {
    match v.get("@type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

pub fn is_article(v: &Value) -> bool {
    types(v).iter().any(|t| {
        let t = t
            .trim_start_matches("http://schema.org/")
            .trim_start_matches("https://schema.org/");
        ARTICLE_TYPES.contains(&t)
    })
}

/// The main article object: the first article-typed object, preferring one
/// with a headline or an articleBody.
pub fn main_article(objs: &[Value]) -> Option<&Value> {
    let arts: Vec<&Value> = objs.iter().filter(|o| is_article(o)).collect();
    arts.iter()
        .copied()
        .find(|o| o.get("articleBody").is_some())
        .or_else(|| arts.iter().copied().find(|o| o.get("headline").is_some()))
        .or_else(|| arts.first().copied())
}

/// A string field (or the first string of an array).
pub fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v.get(key)? {
        Value::String(s) => Some(s.as_str()),
        Value::Array(a) => a.iter().find_map(Value::as_str),
        _ => None,
    }
}

/// Names of a person/organisation field (string, object, or array of them).
pub fn names(v: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |x: &Value| match x {
        Value::String(s) => out.push(s.clone()),
        Value::Object(_) => {
            if let Some(n) = x.get("name") {
                match n {
                    Value::String(s) => out.push(s.clone()),
                    Value::Array(a) => {
                        out.extend(a.iter().filter_map(Value::as_str).map(String::from))
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    };
    match v {
        Some(Value::Array(a)) => a.iter().for_each(&mut push),
        Some(x) => push(x),
        None => {}
    }
    out
}

/// A URL from an image-like field: string, ImageObject, or array of them.
pub fn url_of(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(|x| url_of(Some(x))),
        o @ Value::Object(_) => str_field(o, "url")
            .or_else(|| str_field(o, "contentUrl"))
            .map(String::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><head>
<script type="application/ld+json">{"@context":"https://schema.org","@graph":[
 {"@type":"WebSite","name":"Example News"},
 {"@type":["NewsArticle"],"headline":"Big story","author":[{"@type":"Person","name":"Ann Lee"},"Bob Roe"],
  "image":{"@type":"ImageObject","url":"https://ex.com/a.jpg"},"articleBody":"Text"}]}</script>
<script type="application/ld+json">not json</script>
</head><body></body></html>"#;

    #[test]
    fn finds_article_in_graph() {
        let doc = Document::from(PAGE);
        let objs = objects(&doc);
        assert_eq!(objs.len(), 2);
        let art = main_article(&objs).expect("article");
        assert_eq!(str_field(art, "headline"), Some("Big story"));
        assert_eq!(names(art.get("author")), vec!["Ann Lee", "Bob Roe"]);
        assert_eq!(
            url_of(art.get("image")).as_deref(),
            Some("https://ex.com/a.jpg")
        );
    }

    #[test]
    fn control_chars_tolerated() {
        let doc = Document::from(
            "<script type=\"application/ld+json\">{\"@type\":\"Article\",\"articleBody\":\"a\nb\"}</script>",
        );
        let objs = objects(&doc);
        assert!(main_article(&objs).is_some());
    }
}
