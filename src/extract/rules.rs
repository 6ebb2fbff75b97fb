//! Per-publisher site rules, kept in `site_rules.json` and compiled in.

use std::sync::OnceLock;

use dom_query::{Document, Matcher, NodeRef};
use serde::Deserialize;

use crate::text::html_text::{Profile, render_nodes};

const RULES_JSON: &str = include_str!("site_rules.json");

#[derive(Debug, Deserialize)]
struct RuleFile {
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
struct RawRule {
    name: String,
    hosts: Vec<String>,
    body: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
    #[serde(default)]
    title: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    test_url: String,
}

/// A compiled site rule.
pub struct SiteRule {
    pub name: String,
    /// Preferred title sources, e.g. `["og", "jsonld"]`.
    pub title: Vec<String>,
    hosts: Vec<String>,
    body: Vec<Matcher>,
    remove: Vec<Matcher>,
}

fn compile(sels: &[String]) -> Vec<Matcher> {
    sels.iter().filter_map(|s| Matcher::new(s).ok()).collect()
}

/// The compiled rules and the attribute names their selectors test, from
/// one parse of the rules file.
struct RuleSet {
    rules: Vec<SiteRule>,
    attribute_names: Vec<String>,
}

fn rule_set() -> &'static RuleSet {
    static SET: OnceLock<RuleSet> = OnceLock::new();
    SET.get_or_init(|| {
        let raw = serde_json::from_str::<RuleFile>(RULES_JSON)
            .map(|f| f.rules)
            .unwrap_or_default();
        let mut attribute_names: Vec<String> = raw
            .iter()
            .flat_map(|r| r.body.iter().chain(&r.remove))
            .flat_map(|sel| selector_attributes(sel))
            .collect();
        attribute_names.sort();
        attribute_names.dedup();
        let rules = raw
            .into_iter()
            .map(|r| SiteRule {
                body: compile(&r.body),
                remove: compile(&r.remove),
                hosts: r
                    .hosts
                    .into_iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect(),
                name: r.name,
                title: r.title,
            })
            .collect();
        RuleSet {
            rules,
            attribute_names,
        }
    })
}

/// All rules (parsed once).
pub fn rules() -> &'static [SiteRule] {
    &rule_set().rules
}

/// Names (lower case) of the attributes that the rules' selectors test,
/// e.g. `data-component` for `[data-component="text-block"]`. The pre-pass
/// that strips unused attributes keeps these.
pub fn attribute_names() -> &'static [String] {
    &rule_set().attribute_names
}

/// Attribute names in a CSS selector (`[name]`, `[name=…]`, `[name*=…]`…).
fn selector_attributes(sel: &str) -> Vec<String> {
    sel.split('[')
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'))
                .collect();
            (!name.is_empty()).then(|| name.to_ascii_lowercase())
        })
        .collect()
}

/// The rule whose host suffix matches `host`.
pub fn rule_for_host(host: &str) -> Option<&'static SiteRule> {
    let host = host.to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    rules().iter().find(|r| {
        r.hosts.iter().any(|h| {
            host == h || (host.ends_with(h.as_str()) && host[..host.len() - h.len()].ends_with('.'))
        })
    })
}

/// Keep only nodes that have no ancestor in the set (document order kept).
fn outermost<'a>(nodes: &[NodeRef<'a>]) -> Vec<NodeRef<'a>> {
    let ids: std::collections::HashSet<_> = nodes.iter().map(|n| n.id).collect();
    nodes
        .iter()
        .filter(|n| !n.ancestors_it(Some(64)).any(|a| ids.contains(&a.id)))
        .copied()
        .collect()
}

/// Apply a rule: remove its junk, then render the first body selector that
/// yields at least `min_chars` characters.
pub fn apply(rule: &SiteRule, doc: &Document, min_chars: usize) -> Option<String> {
    for m in &rule.remove {
        doc.select_matcher(m).remove();
    }
    if rule.body.is_empty() {
        return None;
    }
    for m in &rule.body {
        let sel = doc.select_matcher(m);
        if sel.is_empty() {
            continue;
        }
        let nodes = outermost(sel.nodes());
        let t = render_nodes(&nodes, Profile::Article);
        if t.len() >= min_chars {
            return Some(t);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_compile() {
        let raw: RuleFile = serde_json::from_str(RULES_JSON).expect("site_rules.json parses");
        assert!(!raw.rules.is_empty());
        for r in &raw.rules {
            // A rule's test_url is a page of its site: the rule must be the
            // one chosen for it (a host list that misses its own site, or
            // a rule shadowed by another, fails here).
            let host = url::Url::parse(&r.test_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| panic!("{}: test_url is not a URL", r.name));
            assert_eq!(
                rule_for_host(&host).map(|chosen| chosen.name.as_str()),
                Some(r.name.as_str()),
                "{}: its test_url's host {host} does not select it",
                r.name
            );
            for s in r.body.iter().chain(&r.remove) {
                assert!(Matcher::new(s).is_ok(), "{}: bad selector {s}", r.name);
            }
        }
        assert_eq!(rules().len(), raw.rules.len());
    }

    #[test]
    fn attribute_names_from_selectors() {
        assert_eq!(
            selector_attributes(
                r#"main [data-component="text-block"], [ itemprop*=x] p, [hidden]"#
            ),
            vec!["data-component", "itemprop", "hidden"]
        );
        let names = attribute_names();
        assert!(names.iter().any(|n| n == "data-component"));
    }

    #[test]
    fn host_matching() {
        assert_eq!(
            rule_for_host("www.bbc.co.uk").map(|r| r.name.as_str()),
            Some("bbc")
        );
        assert_eq!(
            rule_for_host("bbc.com").map(|r| r.name.as_str()),
            Some("bbc")
        );
        assert!(rule_for_host("notbbc.com").is_none());
    }

    #[test]
    fn bbc_text_blocks() {
        let html = r#"<html><body><main><article>
<div data-component="headline-block"><h1>Storm</h1></div>
<div data-component="byline-block">By A Reporter</div>
<div data-component="text-block"><p>First paragraph of the story.</p></div>
<div data-component="image-block"><figure><img alt="x"><figcaption>Caption</figcaption></figure></div>
<div data-component="subheadline-block"><h2>What happens next?</h2></div>
<div data-component="text-block"><p>Second paragraph.</p></div>
<div data-component="links-block"><a>Related link</a></div>
</article></main></body></html>"#;
        let doc = Document::from(html);
        let rule = rule_for_host("www.bbc.com").expect("rule");
        let t = apply(rule, &doc, 10).expect("text");
        assert_eq!(
            t,
            "First paragraph of the story.\n\nWhat happens next?\n\nSecond paragraph."
        );
    }
}
