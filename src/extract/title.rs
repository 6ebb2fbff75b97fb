//! Page titles without the site's name (" | BBC News", "Paper - ").

use super::match_key::match_key as key;
use crate::text::collapse_ws as normalize_ws;

const TITLE_SEPARATORS: &[&str] = &[" | ", " - ", " – ", " — ", " :: ", " · ", " • ", " / "];

/// Strip a site suffix (or prefix) such as " - BBC News" from a page title.
pub fn strip_site_suffix(title: &str, site_name: Option<&str>) -> String {
    strip_site(title, site_name, None)
}

/// Whether a title segment names the site (site name or host).
fn names_site(seg: &str, site: Option<&str>, host: Option<&str>) -> bool {
    let k = key(seg);
    if k.len() < 2 {
        return false;
    }
    let site_hit = site
        .map(key)
        .is_some_and(|s| !s.is_empty() && (s.contains(&k) || k.contains(&s)));
    let host_hit = host.is_some_and(|h| key(h).contains(&k));
    site_hit || host_hit
}

/// Strip site-name segments (" | BBC News", "Paper - ") from a title.
pub(crate) fn strip_site(title: &str, site: Option<&str>, host: Option<&str>) -> String {
    let mut t = normalize_ws(title);
    loop {
        let mut changed = false;
        for sep in TITLE_SEPARATORS {
            if let Some(idx) = t.rfind(sep) {
                let (head, tail) = (&t[..idx], &t[idx + sep.len()..]);
                let short_brand = tail.split_whitespace().count() <= 3
                    && tail.split_whitespace().all(|w| {
                        w.chars()
                            .next()
                            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
                    });
                let is_date = !tail.is_empty()
                    && tail
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '/' | '-'));
                if !head.trim().is_empty()
                    && (names_site(tail, site, host) || is_date || (*sep == " | " && short_brand))
                {
                    t = head.trim().to_string();
                    changed = true;
                    break;
                }
            }
            if let Some(idx) = t.find(sep) {
                let (head, tail) = (&t[..idx], &t[idx + sep.len()..]);
                if !tail.trim().is_empty() && names_site(head, site, host) {
                    t = tail.trim().to_string();
                    changed = true;
                    break;
                }
            }
        }
        if !changed {
            return t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_suffixes() {
        assert_eq!(
            strip_site_suffix("Storm hits coast - BBC News", Some("BBC News")),
            "Storm hits coast"
        );
        assert_eq!(
            strip_site_suffix("Paper | Storm hits the coast today", Some("Paper")),
            "Storm hits the coast today"
        );
        assert_eq!(strip_site_suffix("Plain title", None), "Plain title");
    }
}
