//! Text handling shared by the feed reader and the page extractor, so a
//! feed and a page are decoded, dated and rendered by the same rules.

pub mod charset;
pub mod dates;
pub mod html_text;

/// Collapse all whitespace (newlines included) to single spaces.
pub fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
